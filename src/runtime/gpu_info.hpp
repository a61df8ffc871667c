// Internal: the GPU half of discovery, implemented by gpu_info_cuda.cpp (CUDA + NVML) or
// gpu_info_none.cpp (CPU builds).
#pragma once

#include "pardit/runtime/topology.hpp"

namespace pardit::runtime::detail {

// Fills gpu_name/uuid/pci and NVLink fields for CUDA device `gpu_index`; no-op without CUDA.
void fill_gpu_info(RankInfo& info, int gpu_index);

}  // namespace pardit::runtime::detail
