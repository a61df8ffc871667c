// What the kernels' .cpp wrappers ask of tensors (defined in common.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "element_type.hpp"

namespace pardit::kernels::detail {

// float32, float16 or bfloat16; anything else is refused (pardit::Error).
ElementType element_type_of(const at::Tensor& t);

// Whether the tensor's data starts at a multiple of `bytes`.
bool aligned_to(const at::Tensor& t, int64_t bytes);

}  // namespace pardit::kernels::detail
