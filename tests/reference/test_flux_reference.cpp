// pardit's Flux transformer and sampling loop against diffusers (tests/reference/make_flux_reference.py).
//
// PARDIT_REFERENCE_DIRS: colon-separated folders made by the generator (any tiny config: the
// architecture comes from each folder's transformer/config.json). Tolerances (fp32, same
// weights and inputs; differences come only from operation order in BLAS/SDPA kernels):
//   transformer output  |pardit - diffusers| <= 1e-4 + 1e-4 * |diffusers|
//   final latents       |pardit - diffusers| <= 2e-4 + 2e-4 * |diffusers|   (after all steps)
//   sigmas / timesteps   equal to 1e-6 (same float32 arithmetic)
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "pardit/io/safetensors.hpp"
#include "pardit/io/weights.hpp"
#include "pardit/model/flux.hpp"
#include "pardit/model/weights.hpp"
#include "pardit/pipeline/denoise.hpp"

namespace {

using namespace pardit;

std::vector<std::string> reference_dirs() {
  std::vector<std::string> dirs;
  const char* env = std::getenv("PARDIT_REFERENCE_DIRS");
  if (!env) return dirs;
  std::stringstream ss(env);
  for (std::string d; std::getline(ss, d, ':');)
    if (!d.empty()) dirs.push_back(d);
  return dirs;
}

struct Loaded {
  model::FluxTransformer model;
};

model::FluxTransformer load_model(const std::string& dir, const std::string& sub = "transformer") {
  io::WeightSource src = io::load_weights(dir + "/" + sub);
  EXPECT_TRUE(src.config_json.has_value());
  model::FluxTransformer m(model::model_config_from_diffusers_json(*src.config_json));
  model::bind_weights(m, src.tensors, at::kFloat, at::kCPU);
  return m;
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, double atol, double rtol, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  at::Tensor diff = (actual - expected).abs();
  at::Tensor bound = atol + rtol * expected.abs();
  const double max_diff = diff.max().item<double>();
  const double max_ref = expected.abs().max().item<double>();
  EXPECT_TRUE((diff <= bound).all().item<bool>())
      << what << ": max |diff| " << max_diff << " (max |reference| " << max_ref << ")";
  // The comparison must be able to fail: the reference is far from zero.
  EXPECT_GT(max_ref, 0.1) << what << ": degenerate reference";
}

class FluxReference : public ::testing::TestWithParam<std::string> {};

TEST_P(FluxReference, TransformerForwardMatchesDiffusers) {
  const std::string dir = GetParam();
  model::FluxTransformer m = load_model(dir);
  io::TensorMap t = io::read_safetensors(dir + "/forward.safetensors");
  at::Tensor ids = at::cat({t.at("txt_ids"), t.at("img_ids")});
  model::FluxInputs in;
  in.hidden_states = t.at("hidden_states");
  in.encoder_hidden_states = t.at("encoder_hidden_states");
  in.pooled_projections = t.at("pooled_projections");
  in.timestep = t.at("timestep");
  if (t.count("guidance")) in.guidance = t.at("guidance");
  in.rope = model::rotary_table(ids, m.config().axes_dims_rope, m.config().rope_theta);
  model::LocalAttention attention;
  at::Tensor out = m.forward(in, attention);
  expect_close(out, t.at("output"), 1e-4, 1e-4, dir + " forward");

  // Perturbing one weight must change the output beyond the tolerance (the check has teeth).
  m.visit([](const std::string& name, at::Tensor& p, const std::vector<int64_t>&) {
    if (name == "single_transformer_blocks.0.attn.norm_k.weight") p = p * 1.5;
  });
  at::Tensor perturbed = m.forward(in, attention);
  EXPECT_GT((perturbed - t.at("output")).abs().max().item<double>(), 1e-3);
}

TEST_P(FluxReference, ShardedCheckpointLoadsTheSameWeights) {
  const std::string dir = GetParam();
  io::WeightSource single = io::load_weights(dir + "/transformer");
  io::WeightSource sharded = io::load_weights(dir + "/transformer-sharded");
  EXPECT_GE(sharded.files.size(), 2u);
  ASSERT_EQ(single.tensors.size(), sharded.tensors.size());
  for (const auto& [name, tensor] : single.tensors) EXPECT_TRUE(at::equal(tensor, sharded.tensors.at(name))) << name;
}

TEST_P(FluxReference, SamplingMatchesFluxPipeline) {
  const std::string dir = GetParam();
  model::FluxTransformer m = load_model(dir);
  const std::string file = dir + "/sampling.safetensors";
  io::TensorMap t = io::read_safetensors(file);
  auto meta = io::read_safetensors_header(file).metadata;
  pipeline::SamplingOptions opt;
  opt.height = std::stoll(meta.at("height"));
  opt.width = std::stoll(meta.at("width"));
  opt.steps = std::stoll(meta.at("steps"));
  opt.guidance = std::stod(meta.at("guidance"));
  opt.true_cfg_scale = std::stod(meta.at("true_cfg_scale"));

  const auto shape = pipeline::LatentShape::for_image(opt.height, opt.width);
  auto schedule = pipeline::flow_match_schedule(opt.steps, shape.tokens());
  at::Tensor sigmas = at::tensor(schedule.sigmas);
  expect_close(sigmas.narrow(0, 0, opt.steps), t.at("sigmas").narrow(0, 0, opt.steps), 1e-6, 0, "sigmas");
  EXPECT_EQ(schedule.sigmas.back(), 0.0f);
  expect_close(at::tensor(schedule.timesteps), t.at("timesteps"), 1e-4, 1e-6, "timesteps");

  pipeline::Conditioning c{t.at("prompt_embeds"), t.at("pooled_prompt_embeds"), {}, {}};
  if (t.count("negative_prompt_embeds")) {
    c.negative_prompt_embeds = t.at("negative_prompt_embeds");
    c.negative_pooled_prompt_embeds = t.at("negative_pooled_prompt_embeds");
  }
  model::LocalAttention attention;
  pipeline::ModelPredictor predictor(m, attention, shape, c.prompt_embeds.size(1));
  auto result = pipeline::denoise(predictor, c, t.at("initial_noise"), opt, m.config().guidance_embeds, at::kCPU);
  expect_close(result.latents, t.at("final_latents"), 2e-4, 2e-4, dir + " final latents");
  EXPECT_EQ(static_cast<int64_t>(result.step_seconds.size()), opt.steps);
}

TEST(FluxReferenceSetup, SeededNoiseEqualsTorchRandn) {
  // The generator draws initial_noise with torch.randn(generator=Generator().manual_seed(seed)).
  for (const std::string& dir : reference_dirs()) {
    const std::string file = dir + "/sampling.safetensors";
    auto meta = io::read_safetensors_header(file).metadata;
    io::TensorMap t = io::read_safetensors(file);
    auto shape = pipeline::LatentShape::for_image(std::stoll(meta.at("height")), std::stoll(meta.at("width")));
    EXPECT_TRUE(at::equal(pipeline::initial_noise(std::stoull(meta.at("seed")), shape), t.at("initial_noise"))) << dir;
  }
}

INSTANTIATE_TEST_SUITE_P(Generated, FluxReference, ::testing::ValuesIn(reference_dirs()),
                         [](const auto& info) { return "dir" + std::to_string(info.index); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FluxReference);

TEST(FluxReferenceSetup, ReferenceDirsGiven) { ASSERT_FALSE(reference_dirs().empty()) << "set PARDIT_REFERENCE_DIRS"; }

}  // namespace
