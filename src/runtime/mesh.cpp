#include "pardit/runtime/mesh.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "pardit/common/error.hpp"

namespace pardit::runtime {

const char* axis_name(Axis axis) {
  switch (axis) {
    case Axis::dp: return "dp";
    case Axis::cfg: return "cfg";
    case Axis::pipefusion: return "pipefusion";
    case Axis::ring: return "ring";
    case Axis::ulysses: return "ulysses";
  }
  return "?";
}

int degree(const ParallelConfig& c, Axis axis) {
  switch (axis) {
    case Axis::dp: return c.dp;
    case Axis::cfg: return c.cfg;
    case Axis::pipefusion: return c.pipefusion;
    case Axis::ring: return c.ring;
    case Axis::ulysses: return c.ulysses;
  }
  return 1;
}

std::array<double, kNumAxes> estimate_bytes_per_step(const ParallelConfig& c, const ModelShape& m,
                                                     int bytes_per_element) {
  const double S = static_cast<double>(m.text_tokens + m.image_tokens);
  const double hidden = m.hidden_size, e = bytes_per_element;
  const double U = c.ulysses, R = c.ring, P = c.pipefusion;
  const double blocks_per_rank = m.num_layers_total / P;
  std::array<double, kNumAxes> bytes{};
  bytes[static_cast<int>(Axis::ulysses)] = 4 * S / (R * U) * hidden * e * (U - 1) / U * blocks_per_rank;
  bytes[static_cast<int>(Axis::ring)] = 2 * S / R * hidden / U * e * (R - 1) * blocks_per_rank;
  bytes[static_cast<int>(Axis::pipefusion)] = P > 1 ? S * hidden * e / (R * U) : 0;
  bytes[static_cast<int>(Axis::cfg)] = c.cfg > 1 ? static_cast<double>(m.image_tokens) * 64 * 4 / (R * U) : 0;
  bytes[static_cast<int>(Axis::dp)] = 0;
  return bytes;
}

namespace {

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", bytes, units[u]);
}

// A set of world ranks that ends up contiguous in slot order.
using Unit = std::vector<int>;

int home_node(const Topology& topo, const Unit& unit) {
  const int node = topo.node_of(unit.front());
  for (int r : unit)
    if (topo.node_of(r) != node) return -1;  // spans nodes
  return node;
}

std::vector<Unit> chunk(const std::vector<Unit>& units, size_t begin, size_t end, int degree, std::vector<Unit>& out) {
  std::vector<Unit> remainder;
  size_t i = begin;
  for (; i + static_cast<size_t>(degree) <= end; i += static_cast<size_t>(degree)) {
    Unit merged;
    for (size_t k = i; k < i + static_cast<size_t>(degree); ++k) merged.insert(merged.end(), units[k].begin(), units[k].end());
    out.push_back(std::move(merged));
  }
  for (; i < end; ++i) remainder.push_back(units[i]);
  return remainder;
}

}  // namespace

// [Note: placement]
// Slots are the row-major indices of (dp, cfg, pipefusion, ring, ulysses) coordinates, so a ulysses
// group is a run of U consecutive slots, a ring group of ulysses groups a run of R*U, and so on.
// Placement builds the slot order bottom-up: start with single ranks in (node, world rank) order;
// for each axis from the innermost (ulysses) out, merge `degree` units into one, first among the
// units that lie entirely inside one node (node by node), then the leftovers (remainders and units
// that already span nodes), sorted by the node of their first rank. Heavier axes are merged first,
// so they are the first to get a node to themselves; an axis is forced across nodes only when no
// node has room for one of its groups, and cross_node_warnings() reports it. Only the topology's
// node names and world ranks are used: every rank computes the same mesh.
Mesh Mesh::place(const ParallelConfig& config, const Topology& topology) {
  PARDIT_INPUT_CHECK(config.world_size() == topology.world_size(),
                     "dp*cfg*pipefusion*ring*ulysses = {} but the job has {} ranks", config.world_size(),
                     topology.world_size());
  std::vector<Unit> units;
  for (int node = 0; node < topology.num_nodes(); ++node)
    for (int r : topology.ranks_on_node(node)) units.push_back({r});

  for (auto it = kAllAxes.rbegin(); it != kAllAxes.rend(); ++it) {
    const int d = degree(config, *it);
    if (d == 1) continue;
    std::vector<Unit> merged, leftovers;
    // Units inside one node, grouped by node (stable: keeps rank order within a node).
    std::vector<std::pair<int, Unit>> by_node;
    for (auto& u : units) {
      const int node = home_node(topology, u);
      if (node < 0)
        leftovers.push_back(std::move(u));
      else
        by_node.emplace_back(node, std::move(u));
    }
    std::stable_sort(by_node.begin(), by_node.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    size_t begin = 0;
    std::vector<Unit> flat;
    for (auto& [node, u] : by_node) flat.push_back(std::move(u));
    for (size_t i = 1; i <= by_node.size(); ++i) {
      if (i == by_node.size() || by_node[i].first != by_node[begin].first) {
        auto rest = chunk(flat, begin, i, d, merged);
        leftovers.insert(leftovers.end(), rest.begin(), rest.end());
        begin = i;
      }
    }
    std::stable_sort(leftovers.begin(), leftovers.end(), [&](const Unit& a, const Unit& b) {
      return std::make_pair(topology.node_of(a.front()), a.front()) < std::make_pair(topology.node_of(b.front()), b.front());
    });
    auto rest = chunk(leftovers, 0, leftovers.size(), d, merged);
    PARDIT_CHECK(rest.empty(), "placement left {} units over on axis {}", rest.size(), axis_name(*it));
    units = std::move(merged);
  }

  Mesh mesh;
  mesh.config_ = config;
  mesh.topology_ = topology;
  for (const auto& u : units) mesh.slot_to_rank_.insert(mesh.slot_to_rank_.end(), u.begin(), u.end());
  mesh.rank_to_slot_.assign(mesh.slot_to_rank_.size(), -1);
  for (size_t s = 0; s < mesh.slot_to_rank_.size(); ++s)
    mesh.rank_to_slot_[static_cast<size_t>(mesh.slot_to_rank_[s])] = static_cast<int>(s);
  return mesh;
}

std::array<int, kNumAxes> Mesh::coords(int world_rank) const {
  int slot = rank_to_slot_.at(static_cast<size_t>(world_rank));
  std::array<int, kNumAxes> c{};
  for (int a = kNumAxes - 1; a >= 0; --a) {
    const int d = degree(config_, static_cast<Axis>(a));
    c[static_cast<size_t>(a)] = slot % d;
    slot /= d;
  }
  return c;
}

int Mesh::rank_at(const std::array<int, kNumAxes>& c) const {
  int slot = 0;
  for (int a = 0; a < kNumAxes; ++a) slot = slot * degree(config_, static_cast<Axis>(a)) + c[static_cast<size_t>(a)];
  return slot_to_rank_.at(static_cast<size_t>(slot));
}

std::vector<int> Mesh::group(Axis axis, int world_rank) const {
  auto c = coords(world_rank);
  std::vector<int> members;
  for (int i = 0; i < degree(config_, axis); ++i) {
    c[static_cast<size_t>(axis)] = i;
    members.push_back(rank_at(c));
  }
  return members;
}

std::vector<std::vector<int>> Mesh::groups(Axis axis) const {
  std::vector<std::vector<int>> out;
  for (int slot = 0; slot < world_size(); ++slot) {
    const int r = slot_to_rank_[static_cast<size_t>(slot)];
    if (coords(r)[static_cast<size_t>(axis)] == 0) out.push_back(group(axis, r));
  }
  return out;
}

std::vector<std::string> Mesh::cross_node_warnings(const ModelShape& model, int bytes_per_element) const {
  std::vector<std::string> warnings;
  const auto bytes = estimate_bytes_per_step(config_, model, bytes_per_element);
  for (Axis axis : kAllAxes) {
    const int d = degree(config_, axis);
    if (d == 1) continue;
    const auto all = groups(axis);
    int crossing = 0;
    const std::vector<int>* example = nullptr;
    for (const auto& g : all) {
      std::set<int> nodes;
      for (int r : g) nodes.insert(topology_.node_of(r));
      if (nodes.size() > 1) {
        if (crossing++ == 0) example = &g;
      }
    }
    if (crossing == 0) continue;
    std::vector<std::string> hosts;
    for (int r : *example) hosts.push_back(topology_.rank(r).node_name);
    const double b = bytes[static_cast<size_t>(axis)];
    warnings.push_back(fmt::format(
        "{} (degree {}) crosses nodes in {} of {} groups (e.g. ranks {} on {}): ~{} per rank per step over the "
        "inter-node network",
        axis_name(axis), d, crossing, all.size(), fmt::join(*example, ","), fmt::join(hosts, ","),
        b > 0 ? format_bytes(b) : std::string("0 B (only at the end)")));
  }
  return warnings;
}

std::string Mesh::describe() const {
  std::string out = fmt::format("# mesh {} = {} ranks (axes outer->inner: dp cfg pipefusion ring ulysses)\n",
                                config_.str(), world_size());
  out += fmt::format("# {:>5} {:<16} {:>5} {:>4}   {:>3} {:>3} {:>3} {:>4} {:>3}\n", "rank", "node", "local", "gpu",
                     "dp", "cfg", "pf", "ring", "u");
  for (int r = 0; r < world_size(); ++r) {
    const auto& info = topology_.rank(r);
    const auto c = coords(r);
    out += fmt::format("  {:>5} {:<16} {:>5} {:>4}   {:>3} {:>3} {:>3} {:>4} {:>3}\n", r, info.node_name,
                       info.local_rank, info.gpu_index >= 0 ? std::to_string(info.gpu_index) : "-", c[0], c[1], c[2],
                       c[3], c[4]);
  }
  for (Axis axis : kAllAxes) {
    if (degree(config_, axis) == 1) continue;
    out += fmt::format("# {} groups:", axis_name(axis));
    for (const auto& g : groups(axis)) {
      std::set<int> nodes;
      for (int r : g) nodes.insert(topology_.node_of(r));
      bool all_nvlink = true;
      for (int a : g)
        for (int b : g)
          if (a != b && !topology_.nvlinked(a, b)) all_nvlink = false;
      out += fmt::format(" [{}]{}", fmt::join(g, ","), nodes.size() > 1 ? "(x-node)" : all_nvlink ? "(nvlink)" : "");
    }
    out += "\n";
  }
  return out;
}

}  // namespace pardit::runtime
