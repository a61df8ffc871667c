#include "pardit/model/flux_blocks.hpp"

#include <ATen/ATen.h>

namespace pardit::model {
namespace {

// [B, S, H*D] -> [B, S, H, D]
at::Tensor split_heads(const at::Tensor& x, int64_t head_dim) { return x.unflatten(-1, {-1, head_dim}); }

at::Tensor clip_fp16(at::Tensor x) {
  // diffusers clips fp16 activations to the representable range after each block.
  return x.scalar_type() == at::kHalf ? x.clamp(-65504, 65504) : x;
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

FluxTransformerBlock::FluxTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim)
    : norm1(dim, 6), norm1_context(dim, 6), attn(dim, heads, head_dim, /*joint=*/true),
      ff(dim, 4 * dim), ff_context(dim, 4 * dim) {}

std::pair<at::Tensor, at::Tensor> FluxTransformerBlock::forward(const at::Tensor& img, const at::Tensor& txt,
                                                                const at::Tensor& temb, const RotaryTable& rope,
                                                                AttentionStrategy& attention, int layer) const {
  // img: [B, S_img, dim]  txt: [B, S_txt, dim]  temb: [B, dim]
  const int64_t s_txt = txt.size(1), s_img = img.size(1);
  auto m = norm1.forward(temb);          // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
  auto mc = norm1_context.forward(temb);
  at::Tensor img_n = modulate(layer_norm_no_affine(img), m[0], m[1]);
  at::Tensor txt_n = modulate(layer_norm_no_affine(txt), mc[0], mc[1]);

  // Joint attention over [txt ; img], each stream with its own projections and q/k norms.
  const int64_t hd = attn.head_dim;
  at::Tensor q = at::cat({attn.norm_added_q.forward(split_heads(attn.add_q_proj.forward(txt_n), hd)),
                          attn.norm_q.forward(split_heads(attn.to_q.forward(img_n), hd))}, 1);
  at::Tensor k = at::cat({attn.norm_added_k.forward(split_heads(attn.add_k_proj.forward(txt_n), hd)),
                          attn.norm_k.forward(split_heads(attn.to_k.forward(img_n), hd))}, 1);
  at::Tensor v = at::cat({split_heads(attn.add_v_proj.forward(txt_n), hd),
                          split_heads(attn.to_v.forward(img_n), hd)}, 1);  // [B, S, H, D]
  q = apply_rotary(q, rope);
  k = apply_rotary(k, rope);
  at::Tensor o = attention.attend(q, k, v, layer).flatten(2).to(q.scalar_type());  // [B, S, H*D]
  at::Tensor txt_attn = attn.to_add_out.forward(o.narrow(1, 0, s_txt));
  at::Tensor img_attn = attn.to_out_0.forward(o.narrow(1, s_txt, s_img));

  // Gated residuals, then the modulated MLPs.
  at::Tensor img_out = img + m[2].unsqueeze(1) * img_attn;
  img_out = img_out + m[5].unsqueeze(1) * ff.forward(modulate(layer_norm_no_affine(img_out), m[3], m[4]));
  at::Tensor txt_out = txt + mc[2].unsqueeze(1) * txt_attn;
  txt_out = txt_out + mc[5].unsqueeze(1) * ff_context.forward(modulate(layer_norm_no_affine(txt_out), mc[3], mc[4]));
  return {clip_fp16(txt_out), img_out};
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

at::Tensor FluxSingleTransformerBlock::forward(const at::Tensor& x, const at::Tensor& temb, const RotaryTable& rope,
                                               AttentionStrategy& attention, int layer) const {
  // x: [B, S, dim] (text rows first)
  auto m = norm.forward(temb);  // shift, scale, gate
  at::Tensor xn = modulate(layer_norm_no_affine(x), m[0], m[1]);
  at::Tensor mlp = at::gelu(proj_mlp.forward(xn), "tanh");  // [B, S, 4*dim]
  const int64_t hd = attn.head_dim;
  at::Tensor q = apply_rotary(attn.norm_q.forward(split_heads(attn.to_q.forward(xn), hd)), rope);
  at::Tensor k = apply_rotary(attn.norm_k.forward(split_heads(attn.to_k.forward(xn), hd)), rope);
  at::Tensor v = split_heads(attn.to_v.forward(xn), hd);
  at::Tensor o = attention.attend(q, k, v, layer).flatten(2).to(q.scalar_type());  // [B, S, dim]
  at::Tensor out = x + m[2].unsqueeze(1) * proj_out.forward(at::cat({o, mlp}, 2));
  return clip_fp16(out);
}

void FluxSingleTransformerBlock::visit(const std::string& prefix, const ParamVisitor& v) {
  norm.visit(join_key(prefix, "norm"), v);
  proj_mlp.visit(join_key(prefix, "proj_mlp"), v);
  proj_out.visit(join_key(prefix, "proj_out"), v);
  attn.visit(join_key(prefix, "attn"), v);
}

}  // namespace pardit::model
