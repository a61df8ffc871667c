// Flux transformer blocks, members named like the diffusers checkpoint keys.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <utility>

#include "pardit/model/attention.hpp"
#include "pardit/model/layers.hpp"
#include "pardit/model/modulation.hpp"
#include "pardit/model/rope.hpp"

namespace pardit::model {

// Projections of one attention layer (diffusers FluxAttention). Double blocks also carry the
// text-stream ("added") projections and to_out/to_add_out; single blocks have neither.
struct FluxAttention {
  int64_t heads = 0, head_dim = 0;
  bool joint = false;  // double block: separate text projections
  Linear to_q, to_k, to_v;
  RMSNorm norm_q, norm_k;
  Linear to_out_0;  // double blocks only
  Linear add_q_proj, add_k_proj, add_v_proj, to_add_out;
  RMSNorm norm_added_q, norm_added_k;

  // Fused q/k/v projections [3*H*D, dim] (image stream / single block) and the text stream's:
  // one GEMM instead of three. The checkpoint-named weights become views into them (fuse()).
  // Their rows hold the heads in weight_groups groups of [3, H/groups, D] (1: q, k, v blocks).
  at::Tensor qkv_weight, qkv_bias, add_qkv_weight, add_qkv_bias;
  int64_t weight_groups = 1;

  FluxAttention() = default;
  FluxAttention(int64_t dim, int64_t heads, int64_t head_dim, bool joint);
  void visit(const std::string& prefix, const ParamVisitor& v);
  // After every parameter is bound: build the fused projections (no extra memory: the separate
  // weights are re-pointed into them). Assigning a new tensor to to_q.weight later un-fuses.
  void fuse();
  // After fuse(): re-orders the fused projections' rows into `groups` head groups, so that one
  // group's q, k and v are one block of rows (Ulysses: a rank's message is one GEMM, and the own
  // group another; see staged_attention_inputs). The checkpoint-named q/k/v weights are dropped
  // (FluxTransformer::visit() refuses from then on). No extra memory beyond one temporary copy.
  void group_heads(int64_t groups);
  // Attention inputs q, k, v [B, S, H, D] (RMSNorm on q/k, RoPE of `rope`'s rows applied) of
  // x: [B, S, dim] (image stream / single block), or of a double block's text rows `txt` followed
  // by its image rows `img`, for `attention`. The fused CUDA kernel writes them, heads in the
  // strategy's head_groups(), into the strategy's input_buffer(), or in stages into its
  // staged_input_buffers() (the others' groups, then the own group), when src/kernels applies;
  // otherwise the LibTorch path (split, rms_norm, cat, rotary) gives one group.
  AttentionInputs attention_inputs(const at::Tensor& x, const RotaryTable& rope, AttentionStrategy& attention) const;
  AttentionInputs joint_attention_inputs(const at::Tensor& txt, const at::Tensor& img, const RotaryTable& rope,
                                         AttentionStrategy& attention) const;
};

struct FluxTransformerBlock {  // double stream: image and text keep separate weights
  AdaLNModulation norm1, norm1_context;  // AdaLayerNormZero: 6 chunks each
  FluxAttention attn;
  FeedForward ff, ff_context;

  FluxTransformerBlock() = default;
  FluxTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim);
  void fuse() { attn.fuse(); }
  void group_heads(int64_t groups) { attn.group_heads(groups); }
  // img: [B, S_img, dim], txt: [B, S_txt, dim], temb: B rows of conditioning; rope covers
  // [txt ; img] rows. Returns (txt, img), each with its last gated residual pending (evaluated by
  // whatever reads it next, in the same pass as the next block's norm).
  std::pair<PendingResidual, PendingResidual> forward(const PendingResidual& img, const PendingResidual& txt,
                                                      const Temb& temb, const RotaryTable& rope,
                                                      AttentionStrategy& attention, int layer) const;
  void visit(const std::string& prefix, const ParamVisitor& v);
};

struct FluxSingleTransformerBlock {  // single stream over the joint [txt ; img] sequence
  AdaLNModulation norm;  // AdaLayerNormZeroSingle: 3 chunks
  Linear proj_mlp, proj_out;
  FluxAttention attn;

  FluxSingleTransformerBlock() = default;
  FluxSingleTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim);
  void fuse() { attn.fuse(); }
  void group_heads(int64_t groups) { attn.group_heads(groups); }
  // x: [B, S_txt + S_img, dim] -> same shape, its gated residual pending.
  PendingResidual forward(const PendingResidual& x, const Temb& temb, const RotaryTable& rope,
                          AttentionStrategy& attention, int layer) const;
  void visit(const std::string& prefix, const ParamVisitor& v);
};

}  // namespace pardit::model
