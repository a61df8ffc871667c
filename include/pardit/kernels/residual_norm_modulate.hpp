// Fused gated residual + LayerNorm + AdaLN modulation (src/kernels/residual_norm_modulate.cu): the
// step between a Flux block's attention and its MLP, in one pass over the rows instead of an
// addcmul and a layer_norm. model::gated_residual followed by model::norm_modulate is the LibTorch
// path computing the same; tests/kernels checks the two agree.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace pardit::kernels {

// Whether residual_norm_modulate takes these tensors: kernels_run_on(x); x and y contiguous,
// 16-byte aligned [B, S, C] of one float32/float16/bfloat16 dtype, C a multiple of 16 bytes'
// elements and at most 32768 (bf16/fp16) or 16384 (float32); gate, shift and scale [B, C] of that
// dtype and device with contiguous, 16-byte aligned rows one stride apart. Otherwise the caller
// takes the LibTorch path.
bool residual_norm_modulate_supports(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y,
                                     const at::Tensor& shift, const at::Tensor& scale);

// Tensors as residual_norm_modulate_supports() accepts them (chunks of an AdaLN modulation output
// are fine). Returns
//   out    = x + gate * y                                            (the gated residual)
//   normed = layer_norm(out, eps, no affine) * (1 + scale) + shift
// rounded like the LibTorch path with batch 1 (out rounded before it is normalised, 1 + scale
// rounded to the dtype); with batch > 1 model::norm_modulate also rounds the normalised value
// before modulating, which the kernel does not (a difference of at most about one rounding).
std::pair<at::Tensor, at::Tensor> residual_norm_modulate(const at::Tensor& x, const at::Tensor& gate,
                                                         const at::Tensor& y, const at::Tensor& shift,
                                                         const at::Tensor& scale, double eps);

}  // namespace pardit::kernels
