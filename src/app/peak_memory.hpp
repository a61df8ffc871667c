// Peak memory of this rank: the CUDA caching allocator's peak on GPU, peak RSS on CPU.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

namespace pardit::app {
int64_t peak_memory_bytes(c10::Device device);
}
