// Noise prediction under CFG x Ring x Ulysses: every rank of a replica runs all blocks on its
// token slice, attention goes through USP, the output slices are gathered over the sequence
// groups, and the CFG pair exchanges its conditional/unconditional predictions.
#include <ATen/ATen.h>

#include <vector>

#include "hybrid_predictor.hpp"

namespace pardit::parallel {

HybridPredictor::HybridPredictor(const PredictorSetup& s)
    : model_(*s.model),
      ulysses_(s.groups->axis(runtime::Axis::ulysses)),
      ring_(s.groups->axis(runtime::Axis::ring)),
      cfg_(s.groups->axis(runtime::Axis::cfg)),
      attention_(ulysses_, ring_) {
  const int parts = ring_.size() * ulysses_.size();
  const int index = ring_.rank() * ulysses_.size() + ulysses_.rank();  // ring-major, as the gathers below
  text_ = TokenSlice::of(s.text_tokens, parts, index);
  image_ = TokenSlice::of(s.latent_shape.tokens(), parts, index);
  at::Tensor ids = at::cat({model::text_position_ids(s.text_tokens),
                            model::image_position_ids(s.latent_shape.height, s.latent_shape.width)});
  const auto& c = model_.config();
  model::RotaryTable full = model::rotary_table(ids.to(model_.device()), c.axes_dims_rope, c.rope_theta);
  rope_ = model::RotaryTable::concat(full.slice(text_.begin, text_.count),
                                     full.slice(s.text_tokens + image_.begin, image_.count));
}

void HybridPredictor::begin_request(const pipeline::RequestPlan& plan) {
  // CFG parallel: each rank of the pair runs (and needs the modulation rows of) one branch.
  const std::vector<int> branches = cfg_.size() == 2 ? std::vector<int>{cfg_.rank()}
                                    : plan.true_cfg() ? std::vector<int>{0, 1}
                                                      : std::vector<int>{0};
  modulation_.begin(model_, plan, branches);
}

at::Tensor HybridPredictor::forward_slice(const pipeline::StepInputs& in, const at::Tensor& prompt_embeds,
                                          const at::Tensor& pooled, int branch) {
  model::FluxInputs fi{in.latents.narrow(1, image_.begin, image_.count),
                       prompt_embeds.narrow(1, text_.begin, text_.count),
                       pooled,
                       in.timestep,
                       in.guidance,
                       rope_};
  modulation_.select(fi, in.step, branch);
  at::Tensor out = model_.forward(fi, attention_).to(at::kFloat);  // [1, image_.count, C]
  return gather_sequence(out);
}

at::Tensor HybridPredictor::gather_sequence(const at::Tensor& slice) {
  // [1, n, C] -> [1, parts*n, C]: Ulysses slices are contiguous within a ring slice.
  at::Tensor x = slice.squeeze(0).contiguous();
  for (comm::Communicator* c : {&ulysses_, &ring_}) {
    if (c->size() == 1) continue;
    at::Tensor all = at::empty({x.size(0) * c->size(), x.size(1)}, x.options());
    c->all_gather(x, all);
    x = all;
  }
  return x.unsqueeze(0);
}

at::Tensor HybridPredictor::predict(const pipeline::StepInputs& in) {
  const pipeline::Conditioning& c = *in.conditioning;
  const bool true_cfg = in.true_cfg_scale > 1.0;
  if (cfg_.size() == 2) {
    // CFG parallel: cfg rank 0 runs the conditional pass, rank 1 the unconditional one.
    const bool negative = cfg_.rank() == 1;
    at::Tensor mine = negative ? forward_slice(in, c.negative_prompt_embeds, c.negative_pooled_prompt_embeds, 1)
                               : forward_slice(in, c.prompt_embeds, c.pooled_prompt_embeds, 0);
    at::Tensor both = at::empty({2 * mine.size(0), mine.size(1), mine.size(2)}, mine.options());
    cfg_.all_gather(mine.contiguous(), both);
    return pipeline::combine_true_cfg(both.narrow(0, 0, 1), both.narrow(0, 1, 1), in.true_cfg_scale);
  }
  at::Tensor pos = forward_slice(in, c.prompt_embeds, c.pooled_prompt_embeds, 0);
  if (!true_cfg) return pos;
  at::Tensor neg = forward_slice(in, c.negative_prompt_embeds, c.negative_pooled_prompt_embeds, 1);
  return pipeline::combine_true_cfg(pos, neg, in.true_cfg_scale);
}

}  // namespace pardit::parallel
