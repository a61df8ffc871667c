#include "peak_memory.hpp"

#include <sys/resource.h>

#ifdef PARDIT_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace pardit::app {

int64_t peak_memory_bytes(c10::Device device) {
#ifdef PARDIT_HAVE_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
#endif
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // ru_maxrss is in KiB on Linux
}

}  // namespace pardit::app
