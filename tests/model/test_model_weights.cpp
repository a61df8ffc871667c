// Weight checking, binding and seeded random init of a FluxTransformer; parameter counts.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "pardit/common/error.hpp"
#include "pardit/model/flux.hpp"
#include "pardit/model/rope.hpp"
#include "pardit/model/weights.hpp"
#include "test_support.hpp"

namespace pardit::model {
namespace {

using Shapes = std::map<std::string, std::vector<int64_t>>;

Shapes model_shapes(FluxTransformer& m) {
  Shapes s;
  m.visit([&](const std::string& name, at::Tensor&, const std::vector<int64_t>& shape) { s[name] = shape; });
  return s;
}

std::map<std::string, at::Tensor> random_tensors(const Shapes& shapes, uint64_t seed) {
  at::manual_seed(seed);
  std::map<std::string, at::Tensor> t;
  for (const auto& [name, shape] : shapes) t[name] = at::randn(shape, at::kFloat);
  return t;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ModelWeights, NumParametersEqualsDiffusers) {
  // Counted with diffusers 0.42 on the meta device:
  //   with torch.device('meta'): m = FluxTransformer2DModel(guidance_embeds=True)
  //   sum(p.numel() for p in m.parameters())
  // -> 11901408320 (dev), 11891178560 (guidance_embeds=False: schnell), 2353984 for the
  // flux-tiny hyper-parameters (num_layers=2, num_single_layers=4, attention_head_dim=32,
  // num_attention_heads=4, joint_attention_dim=64, pooled_projection_dim=32, axes (8,12,12)).
  // The constructor only records shapes, so this allocates nothing.
  FluxTransformer dev(builtin_model_config("flux-dev"));
  EXPECT_EQ(dev.num_parameters(), 11'901'408'320LL);
  FluxTransformer schnell(builtin_model_config("flux-schnell"));
  EXPECT_EQ(schnell.num_parameters(), 11'891'178'560LL);
  FluxTransformer tiny(builtin_model_config("flux-tiny"));
  EXPECT_EQ(tiny.num_parameters(), 2'353'984LL);
}

TEST(ModelWeights, KeysFollowDiffusersNames) {
  FluxTransformer dev(builtin_model_config("flux-dev"));
  Shapes s = model_shapes(dev);
  // len(FluxTransformer2DModel(guidance_embeds=True).state_dict()) on the meta device: 1160.
  EXPECT_EQ(s.size(), 1160u);
  EXPECT_EQ(s.at("x_embedder.weight"), (std::vector<int64_t>{3072, 64}));
  EXPECT_EQ(s.at("context_embedder.weight"), (std::vector<int64_t>{3072, 4096}));
  EXPECT_EQ(s.at("time_text_embed.guidance_embedder.linear_1.weight"), (std::vector<int64_t>{3072, 256}));
  EXPECT_EQ(s.at("transformer_blocks.18.ff.net.0.proj.weight"), (std::vector<int64_t>{12288, 3072}));
  EXPECT_EQ(s.at("transformer_blocks.0.norm1.linear.weight"), (std::vector<int64_t>{18432, 3072}));
  EXPECT_EQ(s.at("transformer_blocks.0.attn.norm_added_q.weight"), (std::vector<int64_t>{128}));
  EXPECT_EQ(s.at("single_transformer_blocks.37.proj_out.weight"), (std::vector<int64_t>{3072, 15360}));
  EXPECT_EQ(s.at("norm_out.linear.weight"), (std::vector<int64_t>{6144, 3072}));
  EXPECT_EQ(s.at("proj_out.weight"), (std::vector<int64_t>{64, 3072}));
  FluxTransformer schnell(builtin_model_config("flux-schnell"));
  Shapes ss = model_shapes(schnell);
  EXPECT_EQ(ss.size(), 1156u);  // no guidance_embedder (2 linears x weight+bias)
  EXPECT_EQ(ss.count("time_text_embed.guidance_embedder.linear_1.weight"), 0u);
}

// The whole name -> shape table of a small model equals diffusers' state_dict (python3, meta device).
TEST(ModelWeights, NamesAndShapesEqualDiffusersStateDict) {
  if (!pardit::test::python_has("torch, diffusers")) GTEST_SKIP() << "python3 with torch + diffusers not available";
  pardit::test::TempDir dir;
  const std::string script = R"PY(
import sys, torch
from diffusers.models.transformers.transformer_flux import FluxTransformer2DModel  # not the pipelines: faster import
with torch.device("meta"):
    m = FluxTransformer2DModel(num_layers=2, num_single_layers=3, attention_head_dim=16, num_attention_heads=3,
                               joint_attention_dim=40, pooled_projection_dim=24, axes_dims_rope=(4, 6, 6),
                               guidance_embeds=True)
with open(sys.argv[1], "w") as f:
    for k, v in m.state_dict().items():
        f.write(k + " " + ",".join(str(d) for d in v.shape) + "\n")
)PY";
  auto r = pardit::test::run_python(dir.path(), script, (dir / "keys.txt").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Shapes expected;
  std::istringstream in(pardit::test::read_file(dir / "keys.txt"));
  std::string name, dims;
  while (in >> name >> dims) {
    std::vector<int64_t> shape;
    std::istringstream ds(dims);
    for (std::string d; std::getline(ds, d, ',');) shape.push_back(std::stoll(d));
    expected[name] = shape;
  }
  FluxConfig c = builtin_model_config("flux-tiny");
  c.num_layers = 2;
  c.num_single_layers = 3;
  c.attention_head_dim = 16;
  c.num_attention_heads = 3;
  c.joint_attention_dim = 40;
  c.pooled_projection_dim = 24;
  c.axes_dims_rope = {4, 6, 6};
  FluxTransformer m(c);
  ASSERT_GT(expected.size(), 50u);
  EXPECT_EQ(model_shapes(m), expected);
  WeightReport rep = check_weights(m, expected);
  EXPECT_TRUE(rep.ok()) << rep.describe(100);
}

TEST(ModelWeights, CheckWeightsAgreesWithItself) {
  FluxTransformer m(builtin_model_config("flux-tiny"));
  WeightReport r = check_weights(m, model_shapes(m));
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.describe(), "");
}

TEST(ModelWeights, CheckWeightsReportsMissingUnexpectedWrongShape) {
  FluxTransformer m(builtin_model_config("flux-tiny"));
  Shapes s = model_shapes(m);
  s.erase("proj_out.bias");
  s.erase("transformer_blocks.1.attn.to_q.weight");
  s["transformer_blocks.7.attn.to_q.weight"] = {128, 128};
  s["x_embedder.weight"] = {128, 65};
  WeightReport r = check_weights(m, s);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing.size(), 2u);
  EXPECT_TRUE(contains(r.missing, "proj_out.bias"));
  EXPECT_TRUE(contains(r.missing, "transformer_blocks.1.attn.to_q.weight"));
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"transformer_blocks.7.attn.to_q.weight"}));
  ASSERT_EQ(r.wrong_shape.size(), 1u);
  EXPECT_NE(r.wrong_shape[0].find("x_embedder.weight"), std::string::npos) << r.wrong_shape[0];
  EXPECT_NE(r.wrong_shape[0].find("65"), std::string::npos) << r.wrong_shape[0];
  EXPECT_NE(r.wrong_shape[0].find("64"), std::string::npos) << r.wrong_shape[0];
  const std::string d = r.describe();
  EXPECT_NE(d.find("2 missing"), std::string::npos) << d;
  EXPECT_NE(d.find("1 unexpected"), std::string::npos) << d;
  EXPECT_NE(d.find("wrong shape"), std::string::npos) << d;
}

TEST(ModelWeights, DescribeTruncatesLongLists) {
  FluxTransformer m(builtin_model_config("flux-tiny"));
  WeightReport r = check_weights(m, {});
  EXPECT_EQ(r.missing.size(), model_shapes(m).size());
  const std::string d = r.describe(3);
  EXPECT_NE(d.find(", ..."), std::string::npos) << d;
  EXPECT_LT(d.size(), 400u) << d;
}

TEST(ModelWeights, BindWeightsCopiesEveryTensor) {
  FluxTransformer m(builtin_model_config("flux-tiny"));
  auto tensors = random_tensors(model_shapes(m), 3);
  bind_weights(m, tensors, at::kFloat, at::kCPU);
  size_t n = 0;
  m.visit([&](const std::string& name, at::Tensor& p, const std::vector<int64_t>&) {
    ++n;
    ASSERT_TRUE(p.defined()) << name;
    EXPECT_TRUE(at::equal(p, tensors.at(name))) << name;
    EXPECT_NE(p.data_ptr(), tensors.at(name).data_ptr()) << name << " must be a copy";
  });
  EXPECT_EQ(n, tensors.size());
  EXPECT_EQ(m.dtype(), at::kFloat);
  // Conversion to the compute dtype.
  bind_weights(m, tensors, at::kBFloat16, at::kCPU);
  EXPECT_EQ(m.dtype(), at::kBFloat16);
}

TEST(ModelWeights, BindWeightsThrowsInputErrorNamingTheProblems) {
  FluxTransformer m(builtin_model_config("flux-tiny"));
  auto tensors = random_tensors(model_shapes(m), 4);
  tensors.erase("norm_out.linear.bias");
  tensors["lora_A.weight"] = at::zeros({2, 2});
  tensors["context_embedder.weight"] = at::zeros({128, 63});
  try {
    bind_weights(m, tensors, at::kFloat, at::kCPU);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("flux-tiny"), std::string::npos) << msg;
    EXPECT_NE(msg.find("norm_out.linear.bias"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lora_A.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("context_embedder.weight"), std::string::npos) << msg;
    EXPECT_EQ(e.code(), ExitCode::bad_input);
  }
}

std::map<std::string, at::Tensor> params_of(FluxTransformer& m) {
  std::map<std::string, at::Tensor> p;
  m.visit([&](const std::string& name, at::Tensor& t, const std::vector<int64_t>&) { p[name] = t.clone(); });
  return p;
}

TEST(ModelWeights, InitRandomDeterministicPerSeed) {
  FluxTransformer a(builtin_model_config("flux-tiny")), b(builtin_model_config("flux-tiny")),
      c(builtin_model_config("flux-tiny"));
  init_random(a, 7, at::kFloat, at::kCPU);
  init_random(b, 7, at::kFloat, at::kCPU);
  init_random(c, 8, at::kFloat, at::kCPU);
  auto pa = params_of(a), pb = params_of(b), pc = params_of(c);
  ASSERT_EQ(pa.size(), model_shapes(a).size());
  for (const auto& [name, t] : pa) {
    SCOPED_TRACE(name);
    EXPECT_EQ(t.sizes().vec(), model_shapes(a).at(name));
    EXPECT_TRUE(at::equal(t, pb.at(name)));
    EXPECT_FALSE(at::equal(t, pc.at(name)));
    EXPECT_TRUE(at::isfinite(t).all().item<bool>());
  }
  // Different parameters draw from different streams (not one repeated sample).
  EXPECT_FALSE(at::equal(pa.at("transformer_blocks.0.attn.to_q.weight"), pa.at("transformer_blocks.0.attn.to_k.weight")));
  // Scales documented in weights.hpp: linear weights ~ N(0, 1/in), norm scales ~ 1.
  const at::Tensor w = pa.at("transformer_blocks.0.ff.net.0.proj.weight");  // [512, 128]
  EXPECT_NEAR(w.std().item<double>(), 1.0 / std::sqrt(128.0), 0.01);
  EXPECT_NEAR(pa.at("transformer_blocks.0.attn.norm_q.weight").mean().item<double>(), 1.0, 0.05);
  // Random init in another dtype is the float32 draw rounded.
  FluxTransformer h(builtin_model_config("flux-tiny"));
  init_random(h, 7, at::kBFloat16, at::kCPU);
  auto ph = params_of(h);
  EXPECT_EQ(ph.at("proj_out.weight").scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(ph.at("proj_out.weight"), pa.at("proj_out.weight").to(at::kBFloat16)));
}

// Head-group order (Ulysses' q/k/v weights, FluxTransformer::group_heads): the same forward pass
// as the checkpoint order; the checkpoint-named views are gone, which visit() says. Ulysses runs
// with grouped weights are checked in tests/parallel (CPU) and tests/kernels (GPU).
TEST(ModelWeights, GroupHeadsKeepsTheForwardPass) {
  FluxTransformer m(builtin_model_config("flux-tiny")), ref(builtin_model_config("flux-tiny"));
  init_random(m, 5, at::kFloat, at::kCPU);
  init_random(ref, 5, at::kFloat, at::kCPU);
  const FluxConfig& c = m.config();
  at::manual_seed(3);
  FluxInputs in;
  in.hidden_states = at::randn({1, 16, c.in_channels});
  in.encoder_hidden_states = at::randn({1, 8, c.joint_attention_dim});
  in.pooled_projections = at::randn({1, c.pooled_projection_dim});
  in.timestep = at::full({1}, 0.7);
  if (c.guidance_embeds) in.guidance = at::full({1}, 3.5);
  in.rope = rotary_table(at::cat({text_position_ids(8), image_position_ids(8, 8)}), c.axes_dims_rope, c.rope_theta);
  LocalAttention attention;
  const at::Tensor want = ref.forward(in, attention);
  const int64_t heads = c.num_attention_heads;
  ASSERT_EQ(heads % 2, 0);
  EXPECT_THROW(m.group_heads(heads + 1), Error);
  m.group_heads(2);
  const at::Tensor got = m.forward(in, attention);
  EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5)) << "max |diff| " << (got - want).abs().max().item<double>();
  m.group_heads(2);  // the same grouping again: nothing to do
  EXPECT_THROW(m.group_heads(heads), Error);  // from one grouping to another: refused
  try {
    (void)m.num_parameters();
    FAIL() << "visit() after group_heads";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head-group order"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pardit::model
