// FluxConfig: built-ins vs the shipped TOML files, validation, diffusers config.json parsing.
#include <gtest/gtest.h>

#include <string>

#include "pardit/common/error.hpp"
#include "pardit/model/flux_config.hpp"
#include "test_support.hpp"

namespace pardit::model {
namespace {

using pardit::test::TempDir;
using pardit::test::write_file;

void expect_same(const FluxConfig& a, const FluxConfig& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.patch_size, b.patch_size);
  EXPECT_EQ(a.in_channels, b.in_channels);
  EXPECT_EQ(a.out_channels, b.out_channels);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_single_layers, b.num_single_layers);
  EXPECT_EQ(a.attention_head_dim, b.attention_head_dim);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.joint_attention_dim, b.joint_attention_dim);
  EXPECT_EQ(a.pooled_projection_dim, b.pooled_projection_dim);
  EXPECT_EQ(a.guidance_embeds, b.guidance_embeds);
  EXPECT_EQ(a.axes_dims_rope, b.axes_dims_rope);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.text_tokens, b.text_tokens);
}

// Expects `fn` to throw InputError whose message contains every string of `needles`.
template <class Fn>
void expect_input_error(Fn&& fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no InputError thrown";
  } catch (const InputError& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(FluxConfig, EveryBuiltinEqualsItsShippedToml) {
  const auto dir = pardit::test::source_dir() / "configs" / "models";
  const auto names = builtin_model_names();
  ASSERT_EQ(names, (std::vector<std::string>{"flux-dev", "flux-schnell", "flux-tiny"}));
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto file = dir / (name + ".toml");
    ASSERT_TRUE(std::filesystem::exists(file)) << file;
    expect_same(builtin_model_config(name), model_config_from_toml_file(file));
    expect_same(load_model_config(name), model_config_from_toml_file(file));
    expect_same(load_model_config(file.string()), builtin_model_config(name));
  }
}

TEST(FluxConfig, BuiltinsMatchTheRealModels) {
  // FLUX.1-dev / FLUX.1-schnell transformer/config.json on the Hugging Face hub.
  const FluxConfig dev = builtin_model_config("flux-dev");
  EXPECT_EQ(dev.num_layers, 19);
  EXPECT_EQ(dev.num_single_layers, 38);
  EXPECT_EQ(dev.inner_dim(), 3072);
  EXPECT_EQ(dev.latent_channels(), 16);
  EXPECT_TRUE(dev.guidance_embeds);
  EXPECT_FALSE(builtin_model_config("flux-schnell").guidance_embeds);
  for (const auto& n : builtin_model_names()) EXPECT_NO_THROW(builtin_model_config(n).validate()) << n;
}

TEST(FluxConfig, ValidateRefusesRopeDimsNotSummingToHeadDim) {
  FluxConfig c = builtin_model_config("flux-tiny");
  c.axes_dims_rope = {8, 12, 14};  // 34 != 32
  expect_input_error([&] { c.validate(); }, {"axes_dims_rope", "34", "32"});
}

TEST(FluxConfig, ValidateRefusesOddHeadDim) {
  FluxConfig c = builtin_model_config("flux-tiny");
  c.attention_head_dim = 33;
  c.axes_dims_rope = {9, 12, 12};
  expect_input_error([&] { c.validate(); }, {"attention_head_dim=33"});
}

TEST(FluxConfig, ValidateRefusesZeroBlocks) {
  FluxConfig c = builtin_model_config("flux-tiny");
  c.num_layers = 0;
  c.num_single_layers = 0;
  expect_input_error([&] { c.validate(); }, {"at least one block", "num_layers=0", "num_single_layers=0"});
  c.num_single_layers = 1;  // one single block alone is a valid (if odd) model
  EXPECT_NO_THROW(c.validate());
}

TEST(FluxConfig, ValidateRefusesOddRopeAxisAndBadChannels) {
  FluxConfig c = builtin_model_config("flux-tiny");
  c.axes_dims_rope = {7, 13, 12};  // sums to 32 but odd entries
  expect_input_error([&] { c.validate(); }, {"axes_dims_rope", "even"});
  c = builtin_model_config("flux-tiny");
  c.in_channels = 66;
  expect_input_error([&] { c.validate(); }, {"in_channels=66"});
}

TEST(FluxConfig, UnknownModelNameListsBuiltins) {
  expect_input_error([] { load_model_config("flux-pro"); },
                     {"flux-pro", "flux-dev", "flux-schnell", "flux-tiny"});
  expect_input_error([] { builtin_model_config("nope"); }, {"nope", "flux-dev", "flux-schnell", "flux-tiny"});
}

TEST(FluxConfig, TomlUnknownKeyAndWrongTypeRefused) {
  TempDir dir;
  write_file(dir / "m.toml", "name = \"m\"\nnum_layerz = 3\n");
  expect_input_error([&] { model_config_from_toml_file(dir / "m.toml"); }, {"num_layerz"});
  write_file(dir / "t.toml", "num_layers = \"three\"\n");
  expect_input_error([&] { model_config_from_toml_file(dir / "t.toml"); }, {"num_layers", "type"});
  write_file(dir / "bad.toml", "num_layers = = 3\n");
  expect_input_error([&] { model_config_from_toml_file(dir / "bad.toml"); }, {"TOML"});
  // A TOML that parses but describes an invalid model goes through validate().
  write_file(dir / "v.toml", "attention_head_dim = 64\n");
  expect_input_error([&] { model_config_from_toml_file(dir / "v.toml"); }, {"axes_dims_rope"});
}

// A FluxTransformer2DModel config.json as diffusers saves it (FLUX.1-dev's, with a null
// out_channels as in the hub file).
constexpr const char* kDevJson = R"({
  "_class_name": "FluxTransformer2DModel",
  "_diffusers_version": "0.30.0.dev0",
  "attention_head_dim": 128,
  "axes_dims_rope": [16, 56, 56],
  "guidance_embeds": true,
  "in_channels": 64,
  "joint_attention_dim": 4096,
  "num_attention_heads": 24,
  "num_layers": 19,
  "num_single_layers": 38,
  "out_channels": null,
  "patch_size": 1,
  "pooled_projection_dim": 768
})";

TEST(FluxConfig, DiffusersJsonWithNullOutChannels) {
  TempDir dir;
  std::filesystem::create_directories(dir / "transformer");
  write_file(dir / "transformer" / "config.json", kDevJson);
  FluxConfig c = model_config_from_diffusers_json(dir / "transformer" / "config.json");
  FluxConfig dev = builtin_model_config("flux-dev");
  EXPECT_EQ(c.name, "transformer");  // the folder's name
  c.name = dev.name;
  expect_same(c, dev);
  EXPECT_EQ(c.out_channels, 64);  // null -> in_channels
  // A folder with config.json and the .json path both load the same.
  expect_same(load_model_config((dir / "transformer").string()), load_model_config((dir / "transformer" / "config.json").string()));
}

TEST(FluxConfig, DiffusersJsonTinyWithExplicitOutChannelsAndNoGuidance) {
  TempDir dir;
  write_file(dir / "config.json", R"({"_class_name": "FluxTransformer2DModel", "attention_head_dim": 16,
    "axes_dims_rope": [4, 6, 6], "in_channels": 64, "out_channels": 64, "joint_attention_dim": 32,
    "num_attention_heads": 2, "num_layers": 1, "num_single_layers": 2, "pooled_projection_dim": 24})");
  FluxConfig c = model_config_from_diffusers_json(dir / "config.json");
  EXPECT_EQ(c.attention_head_dim, 16);
  EXPECT_EQ(c.num_attention_heads, 2);
  EXPECT_EQ(c.num_layers, 1);
  EXPECT_EQ(c.num_single_layers, 2);
  EXPECT_EQ(c.joint_attention_dim, 32);
  EXPECT_EQ(c.pooled_projection_dim, 24);
  EXPECT_EQ(c.axes_dims_rope, (std::array<int64_t, 3>{4, 6, 6}));
  EXPECT_FALSE(c.guidance_embeds);  // diffusers' default is False
}

TEST(FluxConfig, DiffusersJsonErrors) {
  TempDir dir;
  write_file(dir / "a.json", R"({"_class_name": "UNet2DConditionModel"})");
  expect_input_error([&] { model_config_from_diffusers_json(dir / "a.json"); }, {"UNet2DConditionModel"});
  write_file(dir / "b.json", R"({"num_layers": "19"})");
  expect_input_error([&] { model_config_from_diffusers_json(dir / "b.json"); }, {"wrong type"});
  write_file(dir / "c.json", "{ not json");
  expect_input_error([&] { model_config_from_diffusers_json(dir / "c.json"); }, {"JSON"});
  write_file(dir / "d.json", R"({"axes_dims_rope": [16, 56, 50]})");
  expect_input_error([&] { model_config_from_diffusers_json(dir / "d.json"); }, {"axes_dims_rope"});
  expect_input_error([&] { model_config_from_diffusers_json(dir / "missing.json"); }, {"missing.json"});
}

}  // namespace
}  // namespace pardit::model
