#include "pardit/model/flux.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <tuple>

#include "pardit/common/error.hpp"
#include "pardit/kernels/residual_norm_modulate.hpp"

namespace pardit::model {

template <typename Self, typename Fn>
void FluxTransformer::for_each_modulation(Self& self, Fn&& fn) {
  for (auto& b : self.transformer_blocks) {
    fn(b.norm1);
    fn(b.norm1_context);
  }
  for (auto& b : self.single_transformer_blocks) fn(b.norm);
  fn(self.norm_out);
}

FluxTransformer::FluxTransformer(FluxConfig config) : config_(std::move(config)) {
  config_.validate();
  const int64_t dim = config_.inner_dim();
  x_embedder = Linear(config_.in_channels, dim);
  context_embedder = Linear(config_.joint_attention_dim, dim);
  timestep_embedder = MlpEmbedder(256, dim);
  if (config_.guidance_embeds) guidance_embedder = MlpEmbedder(256, dim);
  text_embedder = MlpEmbedder(config_.pooled_projection_dim, dim);
  for (int64_t i = 0; i < config_.num_layers; ++i)
    transformer_blocks.emplace_back(dim, config_.num_attention_heads, config_.attention_head_dim);
  for (int64_t i = 0; i < config_.num_single_layers; ++i)
    single_transformer_blocks.emplace_back(dim, config_.num_attention_heads, config_.attention_head_dim);
  norm_out = AdaLNModulation(dim, 2);
  proj_out = Linear(dim, config_.patch_size * config_.patch_size * config_.out_channels);
  int slot = 0;
  for_each_modulation(*this, [&](AdaLNModulation& m) { m.slot = slot++; });
}

FluxStreams FluxTransformer::embed(const FluxInputs& in) const {
  const at::ScalarType dtype = x_embedder.weight.scalar_type();
  FluxStreams s;
  s.img = x_embedder.forward(in.hidden_states.to(dtype));
  if (in.modulation != nullptr)
    s.temb = Temb{{}, in.modulation, in.modulation_row, in.hidden_states.size(0)};
  else
    s.temb = Temb{conditioning_vectors(in.timestep, in.guidance, in.pooled_projections)};
  s.txt = context_embedder.forward(in.encoder_hidden_states.to(dtype));
  return s;
}

at::Tensor FluxTransformer::conditioning_vectors(const at::Tensor& timestep, const at::Tensor& guidance,
                                                 const at::Tensor& pooled) const {
  const at::ScalarType dtype = x_embedder.weight.scalar_type();
  // diffusers casts the timestep to the model dtype before scaling by 1000 (bf16 rounding included).
  at::Tensor t = timestep.to(dtype) * 1000;
  at::Tensor temb = timestep_embedder.forward(timestep_projection(t).to(dtype));
  if (config_.guidance_embeds) {
    PARDIT_CHECK(guidance.defined(), "model {} needs a guidance value", config_.name);
    at::Tensor g = guidance.to(dtype) * 1000;
    temb = temb + guidance_embedder.forward(timestep_projection(g).to(dtype));
  }
  return temb + text_embedder.forward(pooled.to(dtype));
}

int64_t FluxTransformer::modulation_table_bytes(int64_t rows) const {
  int64_t width = 0;
  for_each_modulation(*this, [&](const AdaLNModulation& m) { width += m.linear.out_features; });
  return rows * width * static_cast<int64_t>(c10::elementSize(dtype()));
}

ModulationTable FluxTransformer::modulation_table(const at::Tensor& temb) const {
  // temb: [N, dim]. silu(temb) is every layer's input: computed once.
  const at::Tensor act = at::silu(temb);
  ModulationTable table;
  for_each_modulation(*this, [&](const AdaLNModulation& m) {
    PARDIT_CHECK(static_cast<size_t>(m.slot) == table.layers.size(), "AdaLN modulation slots out of order");
    table.layers.push_back(m.linear.forward(act));  // [N, chunks * dim]
  });
  return table;
}

PendingResidual FluxTransformer::run_blocks(int begin, int end, const PendingResidual& x, int64_t text_rows,
                                            const Temb& temb, const RotaryTable& rope,
                                            AttentionStrategy& attention) const {
  const int doubles = static_cast<int>(transformer_blocks.size());
  PendingResidual joint = x;
  int b = begin;
  if (b < std::min(end, doubles)) {  // double blocks: the text and image rows as two streams
    PendingResidual txt = joint.rows(0, text_rows), img = joint.rows(text_rows, joint.x.size(1) - text_rows);
    for (; b < std::min(end, doubles); ++b)
      std::tie(txt, img) = transformer_blocks[b].forward(img, txt, temb, rope, attention, b);
    joint = PendingResidual::of(at::cat({txt.value(), img.value()}, 1));
  }
  for (; b < end; ++b) joint = single_transformer_blocks.at(b - doubles).forward(joint, temb, rope, attention, b);
  return joint;
}

at::Tensor FluxTransformer::final_layer(const PendingResidual& img, const Temb& temb) const {
  auto m = norm_out.forward(temb);  // scale, shift (this order in AdaLayerNormContinuous)
  const at::Tensor &shift = m[1], &scale = m[0];
  // The last block's residual and this norm in one pass where the fused kernel applies; else the
  // LibTorch ops of AdaLayerNormContinuous (norm, then modulation).
  const bool fused = img.gate.defined() && kernels::residual_norm_modulate_supports(img.x, img.gate, img.y, shift, scale);
  return proj_out.forward(fused ? img.value_and_norm(shift, scale).second
                                : modulate(layer_norm_no_affine(img.value()), shift, scale));
}

at::Tensor FluxTransformer::forward(const FluxInputs& in, AttentionStrategy& attention) const {
  const FluxStreams s = embed(in);
  const int64_t s_txt = s.txt.size(1), s_img = s.img.size(1);
  const PendingResidual x = run_blocks(0, static_cast<int>(config_.num_blocks()),
                                       PendingResidual::of(at::cat({s.txt, s.img}, 1)), s_txt, s.temb, in.rope, attention);
  return final_layer(x.rows(s_txt, s_img), s.temb);
}

void FluxTransformer::visit(const ParamVisitor& v) {
  PARDIT_CHECK(head_groups_ == 1,
               "the q/k/v weights are in head-group order (group_heads), so the checkpoint-named ones are gone; "
               "visit the model before grouping its heads");
  timestep_embedder.visit("time_text_embed.timestep_embedder", v);
  if (config_.guidance_embeds) guidance_embedder.visit("time_text_embed.guidance_embedder", v);
  text_embedder.visit("time_text_embed.text_embedder", v);
  context_embedder.visit("context_embedder", v);
  x_embedder.visit("x_embedder", v);
  for (size_t i = 0; i < transformer_blocks.size(); ++i)
    transformer_blocks[i].visit("transformer_blocks." + std::to_string(i), v);
  for (size_t i = 0; i < single_transformer_blocks.size(); ++i)
    single_transformer_blocks[i].visit("single_transformer_blocks." + std::to_string(i), v);
  norm_out.visit("norm_out", v);
  proj_out.visit("proj_out", v);
}

void FluxTransformer::prepare() {
  for (auto& b : transformer_blocks) b.fuse();
  for (auto& b : single_transformer_blocks) b.fuse();
}

void FluxTransformer::group_heads(int64_t groups) {
  for (auto& b : transformer_blocks) b.group_heads(groups);
  for (auto& b : single_transformer_blocks) b.group_heads(groups);
  head_groups_ = groups;
}

int64_t FluxTransformer::num_parameters() {
  int64_t n = 0;
  visit([&](const std::string&, at::Tensor&, const std::vector<int64_t>& shape) {
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    n += numel;
  });
  return n;
}

at::ScalarType FluxTransformer::dtype() const { return x_embedder.weight.scalar_type(); }
at::Device FluxTransformer::device() const { return x_embedder.weight.device(); }

}  // namespace pardit::model
