#include "pardit/runtime/topology.hpp"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "gpu_info.hpp"
#include "hardware.hpp"
#include "pardit/comm/checks.hpp"
#include "pardit/runtime/deadline.hpp"
#include "pardit/runtime/mpi_session.hpp"

namespace pardit::runtime {

Topology::Topology(std::vector<RankInfo> ranks) : ranks_(std::move(ranks)) {
  std::map<std::string, int> index;
  node_of_.resize(ranks_.size());
  for (size_t r = 0; r < ranks_.size(); ++r) {
    PARDIT_CHECK(ranks_[r].world_rank == static_cast<int>(r), "RankInfo {} has world_rank {}", r,
                 ranks_[r].world_rank);
    auto [it, inserted] = index.emplace(ranks_[r].node_name, static_cast<int>(node_names_.size()));
    if (inserted) {
      node_names_.push_back(ranks_[r].node_name);
      node_ranks_.emplace_back();
    }
    node_of_[r] = it->second;
    node_ranks_[static_cast<size_t>(it->second)].push_back(static_cast<int>(r));
  }
  // Local rank = position among the ranks with the same node name. Under PARDIT_NODE_NAME emulation
  // this differs from MPI's shared-memory split, which sees one machine.
  for (const auto& members : node_ranks_)
    for (size_t i = 0; i < members.size(); ++i) {
      ranks_[static_cast<size_t>(members[i])].local_rank = static_cast<int>(i);
      ranks_[static_cast<size_t>(members[i])].local_size = static_cast<int>(members.size());
    }
}

Topology Topology::synthetic(const std::vector<int>& node_sizes) {
  std::vector<RankInfo> ranks;
  for (size_t node = 0; node < node_sizes.size(); ++node) {
    const int first = static_cast<int>(ranks.size());
    for (int local = 0; local < node_sizes[node]; ++local) {
      RankInfo info;
      info.world_rank = static_cast<int>(ranks.size());
      info.node_name = fmt::format("node{:02d}", node);
      info.hostname = info.node_name;
      info.gpu_index = local;
      info.gpu_name = "synthetic GPU";
      info.gpu_pci_bus_id = fmt::format("0000:{:02X}:00.0", 0x10 + local);
      info.numa_node = local * 2 / std::max(1, node_sizes[node]);
      ranks.push_back(info);
    }
    for (int a = first; a < static_cast<int>(ranks.size()); ++a) {
      for (int b = first; b < static_cast<int>(ranks.size()); ++b)
        if (a != b) ranks[static_cast<size_t>(a)].nvlink_peer_pci.push_back(ranks[static_cast<size_t>(b)].gpu_pci_bus_id);
      ranks[static_cast<size_t>(a)].nvlink_count = 18;
    }
  }
  return Topology(std::move(ranks));
}

bool Topology::nvlinked(int rank_a, int rank_b) const {
  if (node_of(rank_a) != node_of(rank_b)) return false;
  const auto& a = rank(rank_a);
  const auto& pci_b = rank(rank_b).gpu_pci_bus_id;
  if (pci_b.empty()) return false;
  if (std::find(a.nvlink_peer_pci.begin(), a.nvlink_peer_pci.end(), pci_b) != a.nvlink_peer_pci.end()) return true;
  // NVSwitch (HGX): each GPU's links end at the switches, so two GPUs that reach a common remote
  // end are NVLinked even when each rank sees only its own GPU (Slurm --gpu-bind).
  for (const auto& remote : rank(rank_b).nvlink_peer_pci)
    if (remote != a.gpu_pci_bus_id &&
        std::find(a.nvlink_peer_pci.begin(), a.nvlink_peer_pci.end(), remote) != a.nvlink_peer_pci.end())
      return true;
  return false;
}

std::string Topology::who(int world_rank) const {
  if (world_rank < 0 || world_rank >= world_size()) return fmt::format("rank {}", world_rank);
  return fmt::format("rank {} ({})", world_rank, rank(world_rank).node_name);
}

std::string Topology::describe() const {
  std::string out = fmt::format("# {} ranks on {} node(s)\n", world_size(), num_nodes());
  out += fmt::format("# {:>5} {:<16} {:>5} {:>4} {:<22} {:<13} {:>4} {:<14} {}\n", "rank", "node", "local",
                     "gpu", "gpu name", "pci", "numa", "nvlink", "nics");
  for (int node = 0; node < num_nodes(); ++node) {
    for (int r : ranks_on_node(node)) {
      const RankInfo& info = rank(r);
      // NVLink column: local ranks of the same node whose GPU this GPU reaches over NVLink.
      std::vector<int> peers;
      for (int other : ranks_on_node(node))
        if (other != r && nvlinked(r, other)) peers.push_back(rank(other).local_rank);
      std::string links = fmt::format("{}", fmt::join(peers, ","));
      if (peers.empty()) links = info.gpu_index >= 0 ? "none" : "-";
      if (links.size() > 14) links = fmt::format("{} peers", peers.size());
      std::string nics = fmt::format("{}", fmt::join(info.net_devices, ","));
      out += fmt::format("  {:>5} {:<16} {:>5} {:>4} {:<22} {:<13} {:>4} {:<14} {}\n", r, info.node_name,
                         info.local_rank, info.gpu_index >= 0 ? std::to_string(info.gpu_index) : "-",
                         info.gpu_name.empty() ? "-" : info.gpu_name.substr(0, 22),
                         info.gpu_pci_bus_id.empty() ? "-" : info.gpu_pci_bus_id,
                         info.numa_node >= 0 ? std::to_string(info.numa_node) : "-", links,
                         nics.empty() ? "-" : nics);
    }
  }
  return out;
}

std::string to_json(const RankInfo& info) {
  nlohmann::json j{{"world_rank", info.world_rank},   {"node_name", info.node_name},
                   {"hostname", info.hostname},       {"local_rank", info.local_rank},
                   {"local_size", info.local_size},   {"pid", info.pid},
                   {"gpu_index", info.gpu_index},     {"gpu_name", info.gpu_name},
                   {"gpu_uuid", info.gpu_uuid},       {"gpu_pci_bus_id", info.gpu_pci_bus_id},
                   {"nvlink_peer_pci", info.nvlink_peer_pci}, {"nvlink_count", info.nvlink_count},
                   {"numa_node", info.numa_node},     {"net_devices", info.net_devices}};
  return j.dump();
}

RankInfo rank_info_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  RankInfo info;
  j.at("world_rank").get_to(info.world_rank);
  j.at("node_name").get_to(info.node_name);
  j.at("hostname").get_to(info.hostname);
  j.at("local_rank").get_to(info.local_rank);
  j.at("local_size").get_to(info.local_size);
  j.at("pid").get_to(info.pid);
  j.at("gpu_index").get_to(info.gpu_index);
  j.at("gpu_name").get_to(info.gpu_name);
  j.at("gpu_uuid").get_to(info.gpu_uuid);
  j.at("gpu_pci_bus_id").get_to(info.gpu_pci_bus_id);
  j.at("nvlink_peer_pci").get_to(info.nvlink_peer_pci);
  j.at("nvlink_count").get_to(info.nvlink_count);
  j.at("numa_node").get_to(info.numa_node);
  j.at("net_devices").get_to(info.net_devices);
  return info;
}

RankInfo discover_local(const MpiSession& session, int gpu_index) {
  RankInfo info;
  info.world_rank = session.world_rank();
  info.node_name = session.node_name();
  info.hostname = host_name();
  info.local_rank = session.local_rank();
  info.local_size = session.local_size();
  info.pid = static_cast<int>(getpid());
  info.gpu_index = gpu_index;
  if (gpu_index >= 0) detail::fill_gpu_info(info, gpu_index);
  detail::fill_host_info(info);
  return info;
}

Topology gather_topology(const MpiSession& session, int gpu_index) {
  const std::string mine = to_json(discover_local(session, gpu_index));
  const int size = session.world_size();
  MPI_Comm world = session.world();

  // Two rounds: lengths, then the texts. Both bounded by the deadline (a rank that never arrives
  // at bootstrap is reported instead of hanging the job).
  int my_length = static_cast<int>(mine.size());
  std::vector<int> lengths(static_cast<size_t>(size));
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Iallgather(&my_length, 1, MPI_INT, lengths.data(), 1, MPI_INT, world, &request));
  wait_or_throw(&request, 1, "topology gather (bootstrap)");

  std::vector<int> offsets(static_cast<size_t>(size), 0);
  for (int r = 1; r < size; ++r) offsets[static_cast<size_t>(r)] = offsets[static_cast<size_t>(r - 1)] + lengths[static_cast<size_t>(r - 1)];
  std::string all(static_cast<size_t>(offsets.back() + lengths.back()), '\0');
  MPI_CHECK(MPI_Iallgatherv(mine.data(), my_length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                            world, &request));
  wait_or_throw(&request, 1, "topology gather (bootstrap)");

  std::vector<RankInfo> ranks;
  ranks.reserve(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r)
    ranks.push_back(rank_info_from_json(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]),
                                                   static_cast<size_t>(lengths[static_cast<size_t>(r)]))));
  return Topology(std::move(ranks));
}

}  // namespace pardit::runtime
