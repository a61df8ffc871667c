// NUMA node and network devices of this rank, from hwloc.
#include <hwloc.h>

#include <algorithm>

#include "hardware.hpp"

namespace pardit::runtime::detail {
namespace {

// RAII for the hwloc topology.
class HwlocTopology {
 public:
  HwlocTopology() {
    if (hwloc_topology_init(&topology_) != 0) return;
    // PCI and OS devices (NICs, GPUs) are filtered out by default.
    hwloc_topology_set_io_types_filter(topology_, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    loaded_ = hwloc_topology_load(topology_) == 0;
  }
  ~HwlocTopology() {
    if (topology_ != nullptr) hwloc_topology_destroy(topology_);
  }
  HwlocTopology(const HwlocTopology&) = delete;
  HwlocTopology& operator=(const HwlocTopology&) = delete;
  bool ok() const { return loaded_; }
  hwloc_topology_t get() const { return topology_; }

 private:
  hwloc_topology_t topology_ = nullptr;
  bool loaded_ = false;
};

int first_numa(hwloc_topology_t topology, hwloc_const_nodeset_t nodeset) {
  if (nodeset == nullptr || hwloc_bitmap_iszero(nodeset)) return -1;
  // Whole-machine nodesets say nothing: only report a NUMA node when the set names exactly one.
  if (hwloc_bitmap_weight(nodeset) != 1) return -1;
  (void)topology;
  return hwloc_bitmap_first(nodeset);
}

int numa_of_object(hwloc_topology_t topology, hwloc_obj_t object) {
  hwloc_obj_t ancestor = hwloc_get_non_io_ancestor_obj(topology, object);
  return ancestor != nullptr ? first_numa(topology, ancestor->nodeset) : -1;
}

}  // namespace

void fill_host_info(RankInfo& info) {
  HwlocTopology topology;
  if (!topology.ok()) return;
  hwloc_topology_t topo = topology.get();

  // NUMA: of the GPU when we have one, else of the CPUs this process is bound to.
  if (!info.gpu_pci_bus_id.empty()) {
    if (hwloc_obj_t pci = hwloc_get_pcidev_by_busidstring(topo, info.gpu_pci_bus_id.c_str()))
      info.numa_node = numa_of_object(topo, pci);
  }
  if (info.numa_node < 0) {
    hwloc_bitmap_t cpuset = hwloc_bitmap_alloc();
    hwloc_bitmap_t nodeset = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(topo, cpuset, HWLOC_CPUBIND_PROCESS) == 0) {
      hwloc_cpuset_to_nodeset(topo, cpuset, nodeset);
      info.numa_node = first_numa(topo, nodeset);
    }
    hwloc_bitmap_free(nodeset);
    hwloc_bitmap_free(cpuset);
  }

  // NICs: network and OpenFabrics OS devices; those on our NUMA node first when it is known.
  std::vector<std::pair<int, std::string>> nics;
  for (hwloc_obj_t os = hwloc_get_next_osdev(topo, nullptr); os != nullptr; os = hwloc_get_next_osdev(topo, os)) {
    if (os->attr->osdev.type != HWLOC_OBJ_OSDEV_NETWORK && os->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS)
      continue;
    if (os->name == nullptr) continue;
    const int numa = numa_of_object(topo, os);
    const int distance = (info.numa_node >= 0 && numa == info.numa_node) ? 0 : 1;
    nics.emplace_back(distance, os->name);
  }
  std::stable_sort(nics.begin(), nics.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [distance, name] : nics) info.net_devices.push_back(std::move(name));
}

}  // namespace pardit::runtime::detail
