// Fused gated residual + LayerNorm + AdaLN modulation (src/kernels/residual_norm_modulate.cu): the
// step between a Flux block's attention and its MLP, in one pass over the rows instead of an
// addcmul and a layer_norm. model::gated_residual followed by model::norm_modulate is the LibTorch
// path computing the same; tests/kernels checks the two agree.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace pardit::kernels {

// Whether residual_norm_modulate takes these rows: kernels_run_on(x), a float32/float16/bfloat16
// dtype, x and y contiguous, 16-byte aligned [B, S, C] of one dtype with C a multiple of 16 bytes'
// elements and at most 16384 elements (bf16/fp16) or 8192 (float32).
bool residual_norm_modulate_supports(const at::Tensor& x, const at::Tensor& y);

// x, y: [B, S, C] contiguous, one dtype; gate, shift, scale: [B, C] with contiguous rows (chunks of
// an AdaLN modulation output are fine), the same dtype, 16-byte aligned. Returns
//   out    = x + gate * y                                            (the gated residual)
//   normed = layer_norm(out, eps, no affine) * (1 + scale) + shift   (rounded like the LibTorch path)
std::pair<at::Tensor, at::Tensor> residual_norm_modulate(const at::Tensor& x, const at::Tensor& gate,
                                                         const at::Tensor& y, const at::Tensor& shift,
                                                         const at::Tensor& scale, double eps);

}  // namespace pardit::kernels
