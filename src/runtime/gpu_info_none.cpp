// CPU build: no GPU to discover or select.
#include "gpu_info.hpp"
#include "pardit/runtime/device.hpp"

namespace pardit::runtime {
namespace detail {
void fill_gpu_info(RankInfo&, int) {}
}  // namespace detail

int select_device(const MpiSession&) { return -1; }
}  // namespace pardit::runtime
