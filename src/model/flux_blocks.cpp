#include "pardit/model/flux_blocks.hpp"

#include <ATen/ATen.h>

#include <tuple>

#include "pardit/common/error.hpp"
#include "pardit/kernels/qkv_norm_rope.hpp"

namespace pardit::model {
namespace {

PendingResidual clip_fp16(PendingResidual r) {
  // diffusers clips fp16 activations to the representable range after each block.
  if (r.x.scalar_type() != at::kHalf) return r;
  return PendingResidual::of(r.value().clamp(-65504, 65504));
}

}  // namespace

FluxAttention::FluxAttention(int64_t dim, int64_t heads_, int64_t head_dim_, bool joint_)
    : heads(heads_), head_dim(head_dim_), joint(joint_),
      to_q(dim, heads_ * head_dim_), to_k(dim, heads_ * head_dim_), to_v(dim, heads_ * head_dim_),
      norm_q(head_dim_), norm_k(head_dim_) {
  if (joint) {
    to_out_0 = Linear(heads * head_dim, dim);
    add_q_proj = Linear(dim, heads * head_dim);
    add_k_proj = Linear(dim, heads * head_dim);
    add_v_proj = Linear(dim, heads * head_dim);
    to_add_out = Linear(heads * head_dim, dim);
    norm_added_q = RMSNorm(head_dim);
    norm_added_k = RMSNorm(head_dim);
  }
}

void FluxAttention::visit(const std::string& prefix, const ParamVisitor& v) {
  PARDIT_CHECK(weight_groups == 1, "{}: visited after group_heads()", prefix);  // FluxTransformer::visit says more
  norm_q.visit(join_key(prefix, "norm_q"), v);
  norm_k.visit(join_key(prefix, "norm_k"), v);
  to_q.visit(join_key(prefix, "to_q"), v);
  to_k.visit(join_key(prefix, "to_k"), v);
  to_v.visit(join_key(prefix, "to_v"), v);
  if (joint) {
    to_out_0.visit(join_key(prefix, "to_out.0"), v);
    norm_added_q.visit(join_key(prefix, "norm_added_q"), v);
    norm_added_k.visit(join_key(prefix, "norm_added_k"), v);
    add_q_proj.visit(join_key(prefix, "add_q_proj"), v);
    add_k_proj.visit(join_key(prefix, "add_k_proj"), v);
    add_v_proj.visit(join_key(prefix, "add_v_proj"), v);
    to_add_out.visit(join_key(prefix, "to_add_out"), v);
  }
}

namespace {
// Concatenates Linear layers' weights and biases into one and re-points each into it.
void fuse_linears(std::initializer_list<Linear*> parts, at::Tensor& weight, at::Tensor& bias) {
  std::vector<at::Tensor> w, b;
  for (Linear* l : parts) {
    w.push_back(l->weight);
    b.push_back(l->bias);
  }
  weight = at::cat(w);
  bias = at::cat(b);
  int64_t row = 0;
  for (Linear* l : parts) {
    l->weight = weight.narrow(0, row, l->out_features);
    l->bias = bias.narrow(0, row, l->out_features);
    row += l->out_features;
  }
}

// qkv [B, S, 3*H*D] with the heads in `weight_groups` groups of [3, H/groups, D] -> q, k, v
// [B, S, H, D], q and k normalised.
std::array<at::Tensor, 3> split_qkv(const at::Tensor& qkv, int64_t head_dim, int64_t weight_groups, const RMSNorm& nq,
                                    const RMSNorm& nk) {
  const at::Tensor t = qkv.unflatten(-1, {weight_groups, 3, -1, head_dim});  // [B, S, G, 3, H/G, D]
  auto part = [&](int which) { return t.select(3, which).flatten(2, 3); };
  return {nq.forward(part(0)), nk.forward(part(1)), part(2)};
}

// One stream's input rows x [B, S, dim], its fused q/k/v projection and its q/k norms.
struct StreamRows {
  const at::Tensor& x;
  const at::Tensor& weight;  // [3*H*D, dim], rows in the attention's weight_groups
  const at::Tensor& bias;
  const RMSNorm& norm_q;
  const RMSNorm& norm_k;
  // Staged inputs only: project the other ranks' head groups and the own group in separate GEMMs,
  // so that sending the former overlaps the latter (for a block with nothing else to run beside
  // the exchange; worth it for the image rows, not for the few text rows).
  bool split = false;
};

// The staged path (AttentionStrategy::staged_input_buffers): every stream's rows of the head
// groups other ranks take are written first and sent while the split streams' own group is
// projected; the own group goes straight where this rank's attention reads it (no copy).
AttentionInputs staged_attention_inputs(std::initializer_list<StreamRows> streams, int64_t head_dim,
                                        const RotaryTable& rope, AttentionStrategy& attention,
                                        const StagedInputs& staged) {
  const int64_t groups = staged.others.size(0), own = staged.own_group;
  const int64_t width = 3 * staged.others.size(4) * head_dim;  // one group's columns
  const at::Tensor cos = rope.cos.contiguous(), sin = rope.sin.contiguous();
  auto kernel = [&](const StreamRows& s, const at::Tensor& qkv, const at::Tensor& out, int64_t offset, int64_t qkv_groups,
                    const at::Tensor& own_out = {}) {
    kernels::qkv_norm_rope(qkv, s.norm_q.weight, s.norm_k.weight, s.norm_q.eps, s.norm_k.eps, cos, sin, out, offset,
                           qkv_groups, own_out, own);
  };
  auto part = [&](const StreamRows& s, int64_t first, int64_t count) {
    return at::linear(s.x, s.weight.narrow(0, first * width, count * width), s.bias.narrow(0, first * width, count * width));
  };
  int64_t offset = 0;
  for (const StreamRows& s : streams) {
    if (!s.split) {  // one GEMM, one kernel for every group, the own one into its place
      kernel(s, at::linear(s.x, s.weight, s.bias), staged.others, offset, groups, staged.own);
    } else {
      if (own > 0) kernel(s, part(s, 0, own), staged.others.narrow(0, 0, own), offset, own);
      if (own + 1 < groups) {
        const int64_t rest = groups - own - 1;
        kernel(s, part(s, own + 1, rest), staged.others.narrow(0, own + 1, rest), offset, rest);
      }
    }
    offset += s.x.size(1);
  }
  attention.send_staged(staged);
  offset = 0;
  for (const StreamRows& s : streams) {
    if (s.split) kernel(s, part(s, own, 1), staged.own, offset, 1);
    offset += s.x.size(1);
  }
  return {staged.others};
}

// q, k, v of the streams' rows in order, normalised and rotated by `rope`, with the heads in the
// strategy's head groups, in its input buffer, when the fused kernel writes them (the LibTorch
// path gives one group). The projections' rows are in `weight_groups` head groups
// (FluxAttention::group_heads).
AttentionInputs prepare_attention_inputs(std::initializer_list<StreamRows> streams, int64_t head_dim,
                                         int64_t weight_groups, const RotaryTable& rope, AttentionStrategy& attention) {
  const int64_t groups = attention.head_groups();
  const StreamRows& first = *streams.begin();
  const int64_t B = first.x.size(0), heads = first.weight.size(0) / (3 * head_dim), width = 3 * heads * head_dim;
  int64_t rows = 0;
  for (const StreamRows& s : streams) rows += s.x.size(1);
  const bool kernel = kernels::fused_kernels_for(first.x) && heads % groups == 0;
  if (kernel && groups == 1 && weight_groups == 1 && (B == 1 || streams.size() == 1)) {
    // One group is the projection's own [B, S, 3, H, D] order: every stream's projection writes its
    // rows of one buffer and the kernel normalises and rotates q and k there, in place (v is not
    // touched).
    at::Tensor packed = at::empty({B, rows, width}, first.x.options());
    if (kernels::qkv_norm_rope_supports(packed, head_dim)) {
      int64_t offset = 0;
      for (const StreamRows& s : streams) {
        const int64_t n = s.x.size(1);
        at::Tensor out = (streams.size() == 1 ? packed : packed[0].narrow(0, offset, n)).view({-1, width});
        at::addmm_out(out, s.bias, s.x.reshape({-1, s.x.size(-1)}), s.weight.t());
        offset += n;
      }
      const at::Tensor cos = rope.cos.contiguous(), sin = rope.sin.contiguous();
      const at::Tensor out = packed.view({1, B, rows, 3, heads, head_dim});
      offset = 0;
      for (const StreamRows& s : streams) {
        const int64_t n = s.x.size(1);
        kernels::qkv_norm_rope(packed.narrow(1, offset, n), s.norm_q.weight, s.norm_k.weight, s.norm_q.eps,
                               s.norm_k.eps, cos, sin, out, offset);
        offset += n;
      }
      return {out};
    }
  }
  if (kernel && groups > 1 && weight_groups == groups && kernels::qkv_norm_rope_supports(first.x, head_dim))
    if (const std::optional<StagedInputs> staged =
            attention.staged_input_buffers({groups, B, rows, 3, heads / groups, head_dim}, first.x.options()))
      return staged_attention_inputs(streams, head_dim, rope, attention, *staged);
  std::vector<at::Tensor> projected;
  for (const StreamRows& s : streams) projected.push_back(at::linear(s.x, s.weight, s.bias));
  if (kernel && kernels::qkv_norm_rope_supports(projected[0], head_dim)) {
    at::Tensor out = attention.input_buffer({groups, B, rows, 3, heads / groups, head_dim}, first.x.options());
    const at::Tensor cos = rope.cos.contiguous(), sin = rope.sin.contiguous();
    int64_t offset = 0;
    size_t i = 0;
    for (const StreamRows& s : streams) {
      kernels::qkv_norm_rope(projected[i++].contiguous(), s.norm_q.weight, s.norm_k.weight, s.norm_q.eps,
                             s.norm_k.eps, cos, sin, out, offset, weight_groups);
      offset += s.x.size(1);
    }
    return {out};
  }
  std::vector<at::Tensor> q, k, v;
  size_t i = 0;
  for (const StreamRows& s : streams) {
    auto [sq, sk, sv] = split_qkv(projected[i++], head_dim, weight_groups, s.norm_q, s.norm_k);
    q.push_back(sq);
    k.push_back(sk);
    v.push_back(sv);
  }
  auto cat_rows = [](const std::vector<at::Tensor>& parts) { return parts.size() == 1 ? parts[0] : at::cat(parts, 1); };
  return AttentionInputs::stack(apply_rotary(cat_rows(q), rope), apply_rotary(cat_rows(k), rope), cat_rows(v))
      .regrouped(groups);
}
}  // namespace

void FluxAttention::fuse() {
  fuse_linears({&to_q, &to_k, &to_v}, qkv_weight, qkv_bias);
  if (joint) fuse_linears({&add_q_proj, &add_k_proj, &add_v_proj}, add_qkv_weight, add_qkv_bias);
}

void FluxAttention::group_heads(int64_t groups) {
  PARDIT_CHECK(qkv_weight.defined(), "FluxAttention::group_heads before fuse()");
  PARDIT_CHECK(groups >= 1 && heads % groups == 0, "cannot split {} heads into {} groups", heads, groups);
  if (groups == weight_groups) return;
  PARDIT_CHECK(weight_groups == 1, "q/k/v weights are in {} head groups already, not {}", weight_groups, groups);
  // Rows [3, G, H/G * D] -> [G, 3, H/G * D], in the same memory (through one temporary copy).
  auto regroup = [&](at::Tensor& t) { t.copy_(t.unflatten(0, {3, groups, -1}).transpose(0, 1).contiguous().view_as(t)); };
  regroup(qkv_weight);
  regroup(qkv_bias);
  std::vector<Linear*> parts{&to_q, &to_k, &to_v};
  if (joint) {
    regroup(add_qkv_weight);
    regroup(add_qkv_bias);
    parts.insert(parts.end(), {&add_q_proj, &add_k_proj, &add_v_proj});
  }
  for (Linear* l : parts) l->weight = l->bias = at::Tensor();  // their rows are no longer blocks of the fused ones
  weight_groups = groups;
}

AttentionInputs FluxAttention::attention_inputs(const at::Tensor& x, const RotaryTable& rope,
                                                AttentionStrategy& attention) const {
  PARDIT_CHECK(qkv_weight.defined(), "FluxAttention used before fuse()");
  return prepare_attention_inputs({{x, qkv_weight, qkv_bias, norm_q, norm_k}}, head_dim, weight_groups, rope, attention);
}

AttentionInputs FluxAttention::joint_attention_inputs(const at::Tensor& txt, const at::Tensor& img,
                                                      const RotaryTable& rope, AttentionStrategy& attention) const {
  PARDIT_CHECK(qkv_weight.defined() && add_qkv_weight.defined(), "FluxAttention used before fuse()");
  return prepare_attention_inputs({{txt, add_qkv_weight, add_qkv_bias, norm_added_q, norm_added_k},
                                   {img, qkv_weight, qkv_bias, norm_q, norm_k, /*split=*/true}},
                                  head_dim, weight_groups, rope, attention);
}

FluxTransformerBlock::FluxTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim)
    : norm1(dim, 6), norm1_context(dim, 6), attn(dim, heads, head_dim, /*joint=*/true),
      ff(dim, 4 * dim), ff_context(dim, 4 * dim) {}

std::pair<PendingResidual, PendingResidual> FluxTransformerBlock::forward(const PendingResidual& img_in,
                                                                          const PendingResidual& txt_in,
                                                                          const Temb& temb, const RotaryTable& rope,
                                                                          AttentionStrategy& attention,
                                                                          int layer) const {
  // img: [B, S_img, dim]  txt: [B, S_txt, dim]  temb: B rows
  auto m = norm1.forward(temb);          // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
  auto mc = norm1_context.forward(temb);
  auto [img, img_n] = img_in.value_and_norm(m[0], m[1]);
  auto [txt, txt_n] = txt_in.value_and_norm(mc[0], mc[1]);
  const int64_t s_txt = txt.size(1), s_img = img.size(1);

  // Joint attention over [txt ; img], each stream with its own projections and q/k norms.
  const AttentionInputs qkv = attn.joint_attention_inputs(txt_n, img_n, rope, attention);
  at::Tensor o = attention.attend(qkv, layer).flatten(2).to(img.scalar_type());  // [B, S_txt + S_img, H*D]
  at::Tensor txt_attn = attn.to_add_out.forward(o.narrow(1, 0, s_txt));
  at::Tensor img_attn = attn.to_out_0.forward(o.narrow(1, s_txt, s_img));

  // Gated residuals, then the modulated MLPs, whose gated residuals are left pending.
  auto [img_out, img_n2] = gated_residual_norm_modulate(img, m[2], img_attn, m[3], m[4]);
  PendingResidual img_next{img_out, m[5], ff.forward(img_n2)};
  auto [txt_out, txt_n2] = gated_residual_norm_modulate(txt, mc[2], txt_attn, mc[3], mc[4]);
  PendingResidual txt_next{txt_out, mc[5], ff_context.forward(txt_n2)};
  return {clip_fp16(std::move(txt_next)), std::move(img_next)};
}

void FluxTransformerBlock::visit(const std::string& prefix, const ParamVisitor& v) {
  norm1.visit(join_key(prefix, "norm1"), v);
  norm1_context.visit(join_key(prefix, "norm1_context"), v);
  attn.visit(join_key(prefix, "attn"), v);
  ff.visit(join_key(prefix, "ff"), v);
  ff_context.visit(join_key(prefix, "ff_context"), v);
}

FluxSingleTransformerBlock::FluxSingleTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim)
    : norm(dim, 3), proj_mlp(dim, 4 * dim), proj_out(dim + 4 * dim, dim),
      attn(dim, heads, head_dim, /*joint=*/false) {}

PendingResidual FluxSingleTransformerBlock::forward(const PendingResidual& x_in, const Temb& temb,
                                                   const RotaryTable& rope, AttentionStrategy& attention,
                                                   int layer) const {
  // x: [B, S, dim] (text rows first)
  auto m = norm.forward(temb);  // shift, scale, gate
  at::Tensor x, xn;  // named tensors, not structured bindings: the MLP branch's lambdas capture xn
  std::tie(x, xn) = x_in.value_and_norm(m[0], m[1]);
  const AttentionInputs qkv = attn.attention_inputs(xn, rope, attention);
  // proj_out(cat(o, mlp)) as two accumulating GEMMs over the weight's column blocks (the
  // [S, 5*dim] concatenation is never materialised). The MLP branch does not depend on the
  // attention, so its two GEMMs run while a sequence-parallel strategy exchanges q/k/v and then
  // the attention output (model::OverlapWork).
  const int64_t dim = xn.size(-1);
  at::Tensor mlp, y;
  OverlapWork mlp_branch;
  mlp_branch.during_inputs = [&] { mlp = linear_gelu_tanh(xn, proj_mlp.weight, proj_mlp.bias); };  // [B, S, 4*dim]
  mlp_branch.during_output = [&] { y = at::linear(mlp, proj_out.weight.narrow(1, dim, mlp.size(-1)), proj_out.bias); };
  at::Tensor o = attention.attend(qkv, layer, mlp_branch).flatten(2).to(x.scalar_type());  // [B, S, dim]
  y.view({-1, dim}).addmm_(o.reshape({-1, dim}), proj_out.weight.narrow(1, 0, dim).t());  // in place: no copy of y
  return clip_fp16({x, m[2], y});
}

void FluxSingleTransformerBlock::visit(const std::string& prefix, const ParamVisitor& v) {
  norm.visit(join_key(prefix, "norm"), v);
  proj_mlp.visit(join_key(prefix, "proj_mlp"), v);
  proj_out.visit(join_key(prefix, "proj_out"), v);
  attn.visit(join_key(prefix, "attn"), v);
}

}  // namespace pardit::model
