// Internal: host-side discovery (hwloc).
#pragma once

#include "pardit/runtime/topology.hpp"

namespace pardit::runtime::detail {

// NUMA node (of the GPU if gpu_pci_bus_id is set, else of the bound CPUs) and NICs.
void fill_host_info(RankInfo& info);

}  // namespace pardit::runtime::detail
