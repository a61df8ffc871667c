// PipeFusion: see [Note: PipeFusion schedule] below and docs/parallelism.md.
#include "pipefusion.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "pardit/common/error.hpp"

namespace pardit::parallel {

// [Note: PipeFusion schedule]
// Blocks 0..N-1 (double then single) are cut into P contiguous stages. A step is run as a
// sequence of micro-batches, each a contiguous row range of the joint sequence [txt ; img]:
// the first warmup steps (and always the first step of a request, when no K/V exists yet) use
// one micro-batch holding every row, so they equal the single-rank computation; later steps use
// M patches of latent rows (patch 0 also carries the text). Stage s receives a micro-batch from
// stage s-1, runs its blocks and sends it on while it starts the next one, so stages work on
// different patches at once. In every attention layer the micro-batch's fresh K/V overwrite
// their rows of the layer's full-sequence buffer and the queries attend to the whole buffer:
// rows of patches later in this step still hold the previous step's K/V (one step stale).
// Each conditioning branch (true CFG) keeps its own buffers.

void PipeFusionAttention::set_micro_batch(int branch, int64_t row_begin, int64_t row_end, int64_t total_rows) {
  branch_ = branch;
  row_begin_ = row_begin;
  row_end_ = row_end;
  total_rows_ = total_rows;
}

at::Tensor PipeFusionAttention::attend(const model::AttentionInputs& in, int layer, const model::OverlapWork& overlap) {
  // Ulysses inside the stage: this rank's slice -> every row of the micro-batch, H/U heads.
  // Slices are contiguous and in rank order, so the gathered rows are row_begin_..row_end_.
  auto [qg, kg, vg] = start_ulysses_scatter(ulysses_, in, overlap.during_inputs).wait();
  KV& buf = buffers_[{branch_, layer}];
  if (!buf.k.defined()) {
    buf.k = at::zeros({kg.size(0), total_rows_, kg.size(2), kg.size(3)}, kg.options());
    buf.v = at::zeros_like(buf.k);
  }
  buf.k.narrow(1, row_begin_, row_end_ - row_begin_).copy_(kg);
  buf.v.narrow(1, row_begin_, row_end_ - row_begin_).copy_(vg);
  at::Tensor out = model::local_attention(qg, buf.k, buf.v);
  return start_ulysses_gather(ulysses_, out.contiguous(), overlap.during_output).wait();
}

PipeFusionPredictor::PipeFusionPredictor(const PredictorSetup& s)
    : model_(*s.model),
      pf_(s.groups->axis(runtime::Axis::pipefusion)),
      ulysses_(s.groups->axis(runtime::Axis::ulysses)),
      cfg_(s.groups->axis(runtime::Axis::cfg)),
      attention_(ulysses_) {
  const runtime::ParallelConfig& pc = s.mesh->config();
  PARDIT_INPUT_CHECK(pc.ring == 1,
                     "PipeFusion with Ring attention ({}) is not supported: use Ulysses inside PipeFusion stages "
                     "(--ulysses-degree) or Ring without PipeFusion",
                     pc.str());
  text_ = s.text_tokens;
  image_ = s.latent_shape.tokens();
  const int P = pf_.size(), stage = pf_.rank();
  const int blocks = static_cast<int>(model_.config().num_blocks());
  block_begin_ = stage * blocks / P;
  block_end_ = (stage + 1) * blocks / P;
  warmup_steps_ = std::max(1, pc.warmup_steps);

  const int64_t rows = s.latent_shape.token_rows(), cols = image_ / rows;
  const int M = pc.patches();
  PARDIT_INPUT_CHECK(M >= 1 && M <= rows, "--num-pipeline-patches {} must be between 1 and the {} latent token rows",
                     M, rows);
  const int64_t U = ulysses_.size();
  auto divisible = [&](int64_t n) { return n % U == 0; };
  PARDIT_INPUT_CHECK(divisible(text_ + image_), "PipeFusion x Ulysses {}: {} tokens do not split over {} ranks", U,
                     text_ + image_, U);
  for (int m = 0; m < M; ++m) {
    const int64_t r0 = m * rows / M, r1 = (m + 1) * rows / M;
    Rows p{m == 0 ? 0 : text_ + r0 * cols, text_ + r1 * cols};
    PARDIT_INPUT_CHECK(divisible(p.end - p.begin),
                       "PipeFusion x Ulysses {}: patch {} has {} tokens, not divisible by {}; choose "
                       "--num-pipeline-patches so that every patch's tokens split evenly",
                       U, m, p.end - p.begin, U);
    patches_.push_back(p);
  }
  at::Tensor ids = at::cat({model::text_position_ids(text_),
                            model::image_position_ids(s.latent_shape.height, s.latent_shape.width)});
  rope_ = model::rotary_table(ids.to(model_.device()), model_.config().axes_dims_rope, model_.config().rope_theta);
}

void PipeFusionPredictor::begin_request(const pipeline::RequestPlan& plan) {
  // Every stage embeds each micro-batch's conditioning itself, so every rank holds the rows of
  // the branches it runs (one of the pair under CFG parallel).
  const std::vector<int> branches = cfg_.size() == 2 ? std::vector<int>{cfg_.rank()}
                                    : plan.true_cfg() ? std::vector<int>{0, 1}
                                                      : std::vector<int>{0};
  modulation_.begin(model_, plan, branches);
}

at::Tensor PipeFusionPredictor::run_branch(const pipeline::StepInputs& in, const at::Tensor& embeds,
                                           const at::Tensor& pooled, int branch, bool synchronous) {
  const int P = pf_.size(), stage = pf_.rank();
  const bool first = stage == 0, last = stage == P - 1;
  const int64_t dim = model_.config().inner_dim();
  const std::vector<Rows> batches = synchronous ? std::vector<Rows>{{0, text_ + image_}} : patches_;
  at::Tensor prediction = at::zeros({1, image_, model_.config().out_channels},
                                    in.latents.options().dtype(at::kFloat));
  std::vector<std::pair<comm::RequestPtr, at::Tensor>> sends;  // keep each sent tensor alive until done
  for (const Rows& batch : batches) {
    const TokenSlice slice = TokenSlice::of(batch.end - batch.begin, ulysses_.size(), ulysses_.rank());
    const int64_t lo = batch.begin + slice.begin, hi = lo + slice.count;
    const int64_t t = std::max<int64_t>(0, std::min(hi, text_) - lo);  // text rows of this slice
    const int64_t i = slice.count - t;                                  // image rows
    const int64_t img0 = std::max(lo, text_) - text_;                   // first image token
    model::RotaryTable rope = rope_.slice(lo, slice.count);
    attention_.set_micro_batch(branch, batch.begin, batch.end, text_ + image_);

    model::FluxInputs fi{in.latents.narrow(1, img0, first ? i : 0), embeds.narrow(1, std::min(lo, text_), first ? t : 0),
                         pooled, in.timestep, in.guidance, rope};
    modulation_.select(fi, in.step, branch);
    model::FluxStreams streams = model_.embed(fi);
    at::Tensor x;
    if (first) {
      x = at::cat({streams.txt, streams.img}, 1);
    } else {
      x = at::empty({1, slice.count, dim}, streams.img.options());
      pf_.recv(x, stage - 1);
    }
    const model::PendingResidual out =
        model_.run_blocks(block_begin_, block_end_, model::PendingResidual::of(x), t, streams.temb, rope, attention_);
    if (!last) {
      x = out.value().contiguous();
      sends.emplace_back(pf_.isend(x, stage + 1), x);
    } else if (i > 0) {
      prediction.narrow(1, img0, i).copy_(model_.final_layer(out.rows(t, i), streams.temb));
    }
  }
  for (auto& [request, tensor] : sends) request->wait();
  // The last stage's Ulysses ranks each hold their rows of the prediction; then every stage gets it.
  if (last && ulysses_.size() > 1) ulysses_.all_reduce(prediction);
  if (P > 1) pf_.broadcast(prediction, P - 1);
  return prediction;
}

at::Tensor PipeFusionPredictor::predict(const pipeline::StepInputs& in) {
  // The first steps of every request (and always its first, before any K/V exist) run synchronously.
  const bool synchronous = in.step < warmup_steps_;
  const pipeline::Conditioning& c = *in.conditioning;
  if (cfg_.size() == 2) {
    const bool negative = cfg_.rank() == 1;
    at::Tensor mine = negative ? run_branch(in, c.negative_prompt_embeds, c.negative_pooled_prompt_embeds, 1, synchronous)
                               : run_branch(in, c.prompt_embeds, c.pooled_prompt_embeds, 0, synchronous);
    at::Tensor both = at::empty({2, mine.size(1), mine.size(2)}, mine.options());
    cfg_.all_gather(mine, both);
    return pipeline::combine_true_cfg(both.narrow(0, 0, 1), both.narrow(0, 1, 1), in.true_cfg_scale);
  }
  at::Tensor pos = run_branch(in, c.prompt_embeds, c.pooled_prompt_embeds, 0, synchronous);
  if (in.true_cfg_scale <= 1.0) return pos;
  at::Tensor neg = run_branch(in, c.negative_prompt_embeds, c.negative_pooled_prompt_embeds, 1, synchronous);
  return pipeline::combine_true_cfg(pos, neg, in.true_cfg_scale);
}

}  // namespace pardit::parallel
