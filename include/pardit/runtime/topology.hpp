// Topology discovery: what every rank runs on, gathered so that all ranks hold the same picture.
#pragma once

#include <string>
#include <vector>

namespace pardit::runtime {

class MpiSession;

// One rank's view of its hardware. GPU fields are empty / -1 in CPU runs.
struct RankInfo {
  int world_rank = 0;
  std::string node_name;  // PARDIT_NODE_NAME > SLURMD_NODENAME > hostname
  std::string hostname;   // gethostname(), for messages
  int local_rank = 0;     // index among the ranks with the same node_name (by world rank)
  int local_size = 1;
  int pid = 0;
  int gpu_index = -1;          // CUDA device ordinal this rank uses (after CUDA_VISIBLE_DEVICES)
  std::string gpu_name;        // "NVIDIA H200"
  std::string gpu_uuid;        // "GPU-7f3c..."
  std::string gpu_pci_bus_id;  // "0000:1B:00.0"
  std::vector<std::string> nvlink_peer_pci;  // PCI bus ids reached over active NVLinks (NVML)
  int nvlink_count = 0;                      // active NVLinks of this GPU
  int numa_node = -1;                        // NUMA node of the GPU (or of the bound CPUs)
  std::vector<std::string> net_devices;      // NICs near this rank (hwloc OS devices: mlx5_0, ib0, eth0)
};

// Every rank's RankInfo, identical on all ranks. Nodes are numbered in order of first appearance
// by world rank, so every rank computes the same numbering.
class Topology {
 public:
  Topology() = default;
  explicit Topology(std::vector<RankInfo> ranks);

  // A made-up cluster for tests and `pardit topo --emulate`: node i has node_sizes[i] ranks,
  // world ranks numbered node by node, each with one fake GPU, all GPUs in a node NVLinked.
  static Topology synthetic(const std::vector<int>& node_sizes);

  int world_size() const { return static_cast<int>(ranks_.size()); }
  const RankInfo& rank(int world_rank) const { return ranks_.at(static_cast<size_t>(world_rank)); }
  const std::vector<RankInfo>& ranks() const { return ranks_; }
  int num_nodes() const { return static_cast<int>(node_names_.size()); }
  const std::string& node_name(int node) const { return node_names_.at(static_cast<size_t>(node)); }
  int node_of(int world_rank) const { return node_of_.at(static_cast<size_t>(world_rank)); }
  const std::vector<int>& ranks_on_node(int node) const { return node_ranks_.at(static_cast<size_t>(node)); }
  // Both ranks on one node and their GPUs joined by NVLink (NVML). False in CPU runs.
  bool nvlinked(int rank_a, int rank_b) const;
  // "rank 5 (node02)" for messages.
  std::string who(int world_rank) const;

  // A table: one row per rank (node, local rank, GPU, PCI, NUMA, NVLink peers, NICs).
  std::string describe() const;

 private:
  std::vector<RankInfo> ranks_;
  std::vector<std::string> node_names_;
  std::vector<int> node_of_;
  std::vector<std::vector<int>> node_ranks_;
};

// This process's RankInfo (hwloc for NUMA and NICs; CUDA + NVML for the GPU when built with CUDA
// and `gpu_index` >= 0). local_rank/local_size are filled by gather_topology.
RankInfo discover_local(const MpiSession& session, int gpu_index);

// Collective over the world (every rank calls it, once): gathers every rank's RankInfo.
// Bounded by the communication deadline.
Topology gather_topology(const MpiSession& session, int gpu_index = -1);

// Serialisation used by the gather (JSON text), exposed for tests.
std::string to_json(const RankInfo& info);
RankInfo rank_info_from_json(const std::string& text);

}  // namespace pardit::runtime
