// Fused q/k/v preparation for attention (src/kernels/qkv_norm_rope.cu). The model uses it when
// qkv_norm_rope_supports() says so; its LibTorch path computes the same and tests/kernels checks
// the two agree.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "pardit/kernels/common.hpp"

namespace pardit::kernels {

// Whether qkv_norm_rope takes this projection output and head size: fused_kernels_for(qkv), a
// float32/float16/bfloat16 dtype, an even head_dim of at most 256, data aligned for paired
// loads, and kernel code for the tensor's GPU in this build.
bool qkv_norm_rope_supports(const at::Tensor& qkv, int64_t head_dim);

// From a q/k/v projection output qkv [B, S, 3*H*D] (contiguous; q, k, v blocks of H heads of D,
// or with qkv_groups > 1 heads in that many groups of [3, H/qkv_groups, D], as weights in
// head-group order give them), writes into out [G, B, S_out, 3, H/G, D] (heads in G groups, model::AttentionInputs; G = 1 is
// the projection's own [B, S, 3, H, D] order) rows [row_offset, row_offset + S):
//   q = rope(rms_norm(q) * q_weight), k = rope(rms_norm(k) * k_weight), v unchanged,
// the rotary angles of output row r taken from cos/sin [S_out, D] (float32, each angle twice, as
// RotaryTable stores them). Same dtype for qkv, weights and out; D even and at most 256. With
// own_out (a contiguous tensor shaped like one group of out), group own_group is written there
// instead (Ulysses: the rank's own group straight into its receive buffer). qkv may
// be out's own rows (one group): then q and k are rewritten in place and v is left as it is.
void qkv_norm_rope(const at::Tensor& qkv, const at::Tensor& q_weight, const at::Tensor& k_weight, double q_eps,
                   double k_eps, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& out,
                   int64_t row_offset, int64_t qkv_groups = 1, const at::Tensor& own_out = {},
                   int64_t own_group = -1);

}  // namespace pardit::kernels
