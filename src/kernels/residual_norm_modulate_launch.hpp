// The launcher of the fused gated-residual + LayerNorm + modulation kernel: plain pointers and
// sizes, so the .cu file compiles without LibTorch's headers. Checked and called by
// residual_norm_modulate.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "element_type.hpp"

namespace pardit::kernels::detail {

struct ResidualNormModulateArgs {
  const void* x;      // [batch, seq, dim], contiguous
  const void* y;      // [batch, seq, dim], contiguous
  const void* gate;   // [batch, dim], rows mod_stride elements apart
  const void* shift;  // [batch, dim], likewise
  const void* scale;  // [batch, dim], likewise
  void* out;          // [batch, seq, dim]: x + gate * y
  void* normed;       // [batch, seq, dim]: layer_norm(out) * (1 + scale) + shift
  int64_t batch, seq, dim, mod_stride;
  float eps;
};

// Every pointer must be 16-byte aligned and dim * element size a multiple of 16 (see
// residual_norm_modulate_supports); dim at most 1024 * 4 * (16 / element size).
cudaError_t launch_residual_norm_modulate(ElementType type, const ResidualNormModulateArgs& args,
                                          cudaStream_t stream);

}  // namespace pardit::kernels::detail
