// The storage types the kernels take, named without LibTorch's headers (the .cu files see only
// this); element_type_of() below maps a tensor's dtype onto it for the .cpp wrappers.
#pragma once

namespace pardit::kernels::detail {

enum class ElementType { f32, f16, bf16 };

}  // namespace pardit::kernels::detail
