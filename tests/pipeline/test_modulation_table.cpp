// The per-request AdaLN modulation table ([Note: modulation table]) against the per-step path, on
// flux-tiny (guidance embedding) with random weights, fp32, CPU. The two differ only in GEMM
// rounding (M = rows of the table instead of M = 1):
//   noise prediction  |table - per step| <= 1e-5 * max |per step|
//   final latents     |table - per step| <= 1e-5 + 1e-5 |per step|   (max |latents| 5 to 12)
// while using another step's rows changes the prediction by far more than that.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "pardit/common/error.hpp"
#include "pardit/model/attention.hpp"
#include "pardit/model/flux.hpp"
#include "pardit/model/weights.hpp"
#include "pardit/pipeline/conditioning.hpp"
#include "pardit/pipeline/denoise.hpp"

namespace pardit::pipeline {
namespace {

constexpr int64_t kHeight = 32, kWidth = 48, kSteps = 4;  // 2 x 3 latent tokens

model::FluxTransformer tiny_model() {
  model::FluxConfig c = model::builtin_model_config("flux-tiny");
  c.text_tokens = 8;
  model::FluxTransformer m(c);
  model::init_random(m, 5, at::kFloat, at::kCPU);
  return m;
}

Conditioning conditioning(const model::FluxTransformer& m, int64_t index, bool negative) {
  return synthetic_conditioning(13, index, m.config().text_tokens, m.config().joint_attention_dim,
                                m.config().pooled_projection_dim, negative);
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

SamplingOptions options(bool table, bool true_cfg) {
  SamplingOptions o;
  o.height = kHeight;
  o.width = kWidth;
  o.steps = kSteps;
  o.true_cfg_scale = true_cfg ? 3.0 : 1.0;
  o.modulation_table = table;
  return o;
}

at::Tensor final_latents(const model::FluxTransformer& m, NoisePredictor& predictor, const Conditioning& c,
                         const SamplingOptions& o, uint64_t noise_seed = 17) {
  const auto shape = LatentShape::for_image(o.height, o.width);
  return denoise(predictor, c, initial_noise(noise_seed, shape), o, m.config().guidance_embeds, at::kCPU).latents;
}

void expect_latents_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  const double max_diff = max_abs(actual - expected);
  EXPECT_TRUE(at::allclose(actual, expected, 1e-5, 1e-5))
      << what << ": max |diff| " << max_diff << ", max |per step| " << max_abs(expected);
  EXPECT_GT(max_abs(expected), 0.5) << what << ": degenerate latents";
}

// One transformer pass with the table's rows equals the pass that computes the modulations from
// the step's own timestep, guidance and pooled embedding; another step's rows do not.
TEST(ModulationTable, ForwardMatchesPerStepPath) {
  model::FluxTransformer m = tiny_model();
  const auto& cfg = m.config();
  const auto shape = LatentShape::for_image(kHeight, kWidth);
  at::manual_seed(0);
  const at::Tensor latents = at::randn({1, shape.tokens(), cfg.in_channels});
  const at::Tensor embeds = at::randn({1, cfg.text_tokens, cfg.joint_attention_dim});
  const at::Tensor pooled = at::randn({1, cfg.pooled_projection_dim});
  const at::Tensor guidance = at::full({1}, 3.5f);
  const at::Tensor timesteps = at::tensor({1.0f, 0.75f, 0.4f, 0.05f});
  at::Tensor ids =
      at::cat({model::text_position_ids(cfg.text_tokens), model::image_position_ids(shape.height, shape.width)});
  const model::RotaryTable rope = model::rotary_table(ids, cfg.axes_dims_rope, cfg.rope_theta);

  const int64_t n = timesteps.size(0);
  const model::ModulationTable table =
      m.modulation_table(m.conditioning_vectors(timesteps, guidance.expand({n}), pooled.expand({n, -1})));
  ASSERT_EQ(table.rows(), n);
  // Two double blocks (norm1, norm1_context), four single blocks, norm_out.
  ASSERT_EQ(table.layers.size(), 2u * 2 + 4 + 1);
  EXPECT_EQ(table.layers.front().size(1), 6 * cfg.inner_dim());
  EXPECT_EQ(table.layers.back().size(1), 2 * cfg.inner_dim());

  model::LocalAttention attention;
  std::vector<at::Tensor> per_step;
  for (int64_t i = 0; i < n; ++i) {
    model::FluxInputs in{latents, embeds, pooled, timesteps.narrow(0, i, 1), guidance, rope};
    per_step.push_back(m.forward(in, attention));
  }
  for (int64_t i = 0; i < n; ++i) {
    // The table alone conditions the pass: timestep, guidance and pooled embedding are not read.
    model::FluxInputs in{latents, embeds, at::Tensor(), at::Tensor(), at::Tensor(), rope, &table, i};
    const at::Tensor out = m.forward(in, attention);
    const double scale = max_abs(per_step[i]);
    EXPECT_LE(max_abs(out - per_step[i]), 1e-5 * scale) << "step " << i << ", max |prediction| " << scale;
    const int64_t other = (i + 1) % n;
    EXPECT_GT(max_abs(out - per_step[other]), 1e-2 * scale) << "rows of step " << i << " vs step " << other;
  }
}

// Whole requests through ModelPredictor: with and without true CFG (whose negative prompt has
// its own rows in the table), the table path's latents equal the per-step path's.
TEST(ModulationTable, DenoiseMatchesPerStepPath) {
  model::FluxTransformer m = tiny_model();
  model::LocalAttention attention;
  const auto shape = LatentShape::for_image(kHeight, kWidth);
  for (bool true_cfg : {false, true}) {
    const Conditioning c = conditioning(m, 0, true_cfg);
    ModelPredictor table_predictor(m, attention, shape, m.config().text_tokens);
    ModelPredictor per_step_predictor(m, attention, shape, m.config().text_tokens);
    const at::Tensor with_table = final_latents(m, table_predictor, c, options(true, true_cfg));
    const at::Tensor per_step = final_latents(m, per_step_predictor, c, options(false, true_cfg));
    expect_latents_close(with_table, per_step, true_cfg ? "true CFG" : "no CFG");
  }
  // True CFG changes the result (the negative branch's rows are used, not the prompt's).
  ModelPredictor a(m, attention, shape, m.config().text_tokens), b(m, attention, shape, m.config().text_tokens);
  const Conditioning c = conditioning(m, 0, true);
  EXPECT_GT(max_abs(final_latents(m, a, c, options(true, true)) - final_latents(m, b, c, options(true, false))), 1e-2);
}

// A predictor that runs several requests builds each request's table from that request's prompt.
TEST(ModulationTable, EachRequestGetsItsOwnTable) {
  model::FluxTransformer m = tiny_model();
  model::LocalAttention attention;
  const auto shape = LatentShape::for_image(kHeight, kWidth);
  ModelPredictor reused(m, attention, shape, m.config().text_tokens);
  const Conditioning first = conditioning(m, 0, true), second = conditioning(m, 1, false);
  const at::Tensor first_latents = final_latents(m, reused, first, options(true, true));
  const at::Tensor second_latents = final_latents(m, reused, second, options(true, false), 23);

  ModelPredictor fresh(m, attention, shape, m.config().text_tokens);
  expect_latents_close(second_latents, final_latents(m, fresh, second, options(false, false), 23), "second request");
  expect_latents_close(first_latents, final_latents(m, fresh, first, options(false, true)), "first request");
}

// Step 1 of a planned 3-step request on the tiny model, ready to predict with a ModelPredictor.
struct OneStep {
  model::FluxTransformer m = tiny_model();
  model::LocalAttention attention;
  LatentShape shape = LatentShape::for_image(kHeight, kWidth);
  Conditioning c = conditioning(m, 0, false);
  StepInputs in;
  RequestPlan plan;
  ModelPredictor predictor{m, attention, shape, m.config().text_tokens};

  explicit OneStep(uint64_t seed) {
    at::manual_seed(seed);
    in.step = 1;
    in.latents = at::randn({1, shape.tokens(), m.config().in_channels});
    in.guidance = at::full({1}, 3.5f);
    in.conditioning = &c;
    plan.timesteps = at::tensor({0.9f, 0.6f, 0.3f});
    plan.guidance = in.guidance;
    plan.conditioning = &c;
  }
};

// The table, not the step's timestep, conditions a step once begin_request() has planned it; a
// prompt that was not planned is refused rather than run with another prompt's rows.
TEST(ModulationTable, PlannedRowsConditionTheStep) {
  OneStep t(1);
  auto& [m, attention, shape, c, in, plan, predictor] = t;
  const Conditioning other = conditioning(m, 1, false);
  plan.modulation_table = false;
  predictor.begin_request(plan);
  in.timestep = plan.timesteps.narrow(0, 1, 1);
  const at::Tensor step1 = predictor.predict(in);
  in.timestep = plan.timesteps.narrow(0, 2, 1);
  const at::Tensor step2 = predictor.predict(in);
  ASSERT_GT(max_abs(step1 - step2), 1e-2 * max_abs(step1)) << "the timestep should matter";

  plan.modulation_table = true;
  predictor.begin_request(plan);
  // Step 1's rows, whatever timestep the inputs carry.
  const at::Tensor planned = predictor.predict(in);
  EXPECT_LE(max_abs(planned - step1), 1e-5 * max_abs(step1));

  in.conditioning = &other;
  EXPECT_THROW(predictor.predict(in), Error);
}

// A table over its size limit is not built: the steps compute their modulations themselves (the
// step's own timestep conditions it). The size the model reports is what a table takes.
TEST(ModulationTable, OverSizeLimitComputesPerStep) {
  OneStep t(2);
  auto& [m, attention, shape, c, in, plan, predictor] = t;
  in.timestep = plan.timesteps.narrow(0, 2, 1);  // not step 1's: tells the two paths apart
  plan.modulation_table = false;
  predictor.begin_request(plan);
  const at::Tensor per_step = predictor.predict(in);
  plan.modulation_table = true;
  predictor.begin_request(plan);
  const at::Tensor from_table = predictor.predict(in);
  ASSERT_GT(max_abs(from_table - per_step), 1e-2 * max_abs(per_step)) << "the two paths should differ here";

  const int64_t bytes = m.modulation_table_bytes(3);
  model::ModulationTable table = m.modulation_table(at::randn({3, m.config().inner_dim()}).to(m.dtype()));
  int64_t built = 0;
  for (const at::Tensor& layer : table.layers) built += layer.nbytes();
  EXPECT_EQ(bytes, built);
  plan.modulation_table_max_bytes = bytes - 1;
  predictor.begin_request(plan);
  EXPECT_TRUE(at::equal(predictor.predict(in), per_step));
  plan.modulation_table_max_bytes = bytes;
  predictor.begin_request(plan);
  EXPECT_TRUE(at::equal(predictor.predict(in), from_table));
}

}  // namespace
}  // namespace pardit::pipeline
