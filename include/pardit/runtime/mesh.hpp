// Placement: which world rank takes which slot of the 5-axis mesh.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pardit/runtime/parallel_config.hpp"
#include "pardit/runtime/topology.hpp"

namespace pardit::runtime {

// Mesh axes, outer -> inner. Coordinates are indexed by these values.
enum class Axis : int { dp = 0, cfg = 1, pipefusion = 2, ring = 3, ulysses = 4 };
inline constexpr int kNumAxes = 5;
inline constexpr std::array<Axis, kNumAxes> kAllAxes{Axis::dp, Axis::cfg, Axis::pipefusion, Axis::ring,
                                                     Axis::ulysses};
const char* axis_name(Axis axis);
int degree(const ParallelConfig& config, Axis axis);

// Estimated bytes one rank sends per denoising step on each axis (documented in docs/runtime.md):
//   ulysses:    4 all-to-alls (q, k, v out; attention back) of the rank's (S/(R*U)) x hidden
//               activations per block, of which (U-1)/U leaves the rank:
//               4 * S/(R*U) * hidden * e * (U-1)/U * L/P
//   ring:       K and V of S/R tokens and hidden/U channels travel R-1 hops per block:
//               2 * S/R * hidden/U * e * (R-1) * L/P
//   pipefusion: the hidden states of the whole sequence pass each stage boundary once: S*hidden*e/(R*U)
//   cfg:        the noise prediction (image tokens x 64 fp32) is exchanged once: image*64*4/(R*U)
//   dp:         nothing per step (results are collected at the end)
// S = text + image tokens, L = blocks, e = bytes per element (2 for bf16).
std::array<double, kNumAxes> estimate_bytes_per_step(const ParallelConfig& config, const ModelShape& model,
                                                     int bytes_per_element = 2);

class Mesh {
 public:
  // Topology-aware placement (see [Note: placement] in mesh.cpp): ulysses groups are packed inside
  // a node first, then ring, pipefusion, cfg, dp. Deterministic: every rank computes the same mesh
  // from the same (config, topology). Requires config.world_size() == topology.world_size().
  static Mesh place(const ParallelConfig& config, const Topology& topology);

  const ParallelConfig& config() const { return config_; }
  int world_size() const { return static_cast<int>(slot_to_rank_.size()); }
  std::array<int, kNumAxes> coords(int world_rank) const;
  int rank_at(const std::array<int, kNumAxes>& coords) const;
  // World ranks of `world_rank`'s group along `axis`, in axis-coordinate order (so the position of a
  // rank in this vector is its coordinate on the axis, and its rank in that axis's communicator).
  std::vector<int> group(Axis axis, int world_rank) const;
  // All distinct groups along `axis` (each rank in exactly one).
  std::vector<std::vector<int>> groups(Axis axis) const;

  // One line per axis whose groups span several nodes, with the estimated traffic, e.g.
  //   "ring (degree 2) crosses nodes in 8 of 8 groups (e.g. ranks 0,8 on node01,node02): ~1.2 GiB
  //    per rank per step over the inter-node network"
  std::vector<std::string> cross_node_warnings(const ModelShape& model = ModelShape::flux_dev(),
                                               int bytes_per_element = 2) const;
  // Table: one row per rank with node, local rank, GPU and mesh coordinates, then the groups.
  std::string describe() const;

 private:
  ParallelConfig config_;
  Topology topology_;
  std::vector<int> slot_to_rank_;  // slot = row-major index of coords (ulysses fastest)
  std::vector<int> rank_to_slot_;
};

}  // namespace pardit::runtime
