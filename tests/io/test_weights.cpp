// load_weights: every accepted layout and every refusal.
#include "pardit/io/weights.hpp"
#include "test_util.hpp"

namespace pardit::io {
namespace {
using test::input_error;
using test::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

void write_index(const fs::path& file, const std::string& weight_map_json) {
  test::write_bytes(file, R"({"metadata":{"total_size":0},"weight_map":)" + weight_map_json + "}");
}

TEST(Weights, SingleFile) {
  TempDir dir;
  write_safetensors(dir / "model.safetensors", {{"a", at::ones({2})}});
  auto w = load_weights(dir / "model.safetensors");
  EXPECT_EQ(w.tensors.size(), 1u);
  EXPECT_FALSE(w.config_json.has_value());
  ASSERT_EQ(w.files.size(), 1u);
}

TEST(Weights, DiffusersFolderWithConfig) {
  TempDir dir;
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", {{"a", at::ones({2})}, {"b", at::zeros({3})}});
  test::write_bytes(dir / "config.json", R"({"num_layers": 1})");
  auto w = load_weights(dir.path());
  EXPECT_EQ(w.tensors.size(), 2u);
  ASSERT_TRUE(w.config_json.has_value());
  EXPECT_EQ(*w.config_json, dir / "config.json");
}

TEST(Weights, ShardedIndexReadsEveryShard) {
  TempDir dir;
  write_safetensors(dir / "diffusion_pytorch_model-00001-of-00002.safetensors",
                    {{"a", at::ones({2})}, {"b", at::full({2}, 2.0)}});
  write_safetensors(dir / "diffusion_pytorch_model-00002-of-00002.safetensors", {{"c", at::full({1}, 3.0)}});
  write_index(dir / "diffusion_pytorch_model.safetensors.index.json",
              R"({"a":"diffusion_pytorch_model-00001-of-00002.safetensors",)"
              R"("b":"diffusion_pytorch_model-00001-of-00002.safetensors",)"
              R"("c":"diffusion_pytorch_model-00002-of-00002.safetensors"})");
  for (const auto& path : {dir.path(), dir / "diffusion_pytorch_model.safetensors.index.json"}) {
    auto w = load_weights(path);
    ASSERT_EQ(w.tensors.size(), 3u);
    EXPECT_TRUE(at::equal(w.tensors.at("c"), at::full({1}, 3.0)));
    EXPECT_EQ(w.files.size(), 2u);
  }
}

TEST(Weights, PipelineFolderUsesTransformerSubfolder) {
  TempDir dir;
  fs::create_directories(dir / "transformer");
  fs::create_directories(dir / "vae");
  write_safetensors(dir / "transformer" / "diffusion_pytorch_model.safetensors", {{"x", at::ones({1})}});
  test::write_bytes(dir / "transformer" / "config.json", "{}");
  test::write_bytes(dir / "model_index.json", "{}");
  auto w = load_weights(dir.path());
  EXPECT_EQ(w.tensors.count("x"), 1u);
  ASSERT_TRUE(w.config_json.has_value());
  EXPECT_EQ(*w.config_json, dir / "transformer" / "config.json");
}

TEST(Weights, MissingShard) {
  TempDir dir;
  write_safetensors(dir / "s1.safetensors", {{"a", at::ones({2})}});
  write_index(dir / "m.safetensors.index.json", R"({"a":"s1.safetensors","b":"s2.safetensors"})");
  auto msg = input_error([&] { load_weights(dir / "m.safetensors.index.json"); });
  EXPECT_THAT(msg, HasSubstr("s2.safetensors"));
  EXPECT_THAT(msg, HasSubstr("missing"));
}

TEST(Weights, NameNotInItsShard) {
  TempDir dir;
  write_safetensors(dir / "s1.safetensors", {{"a", at::ones({2})}});
  write_index(dir / "m.safetensors.index.json", R"({"a":"s1.safetensors","ghost":"s1.safetensors"})");
  auto msg = input_error([&] { load_weights(dir / "m.safetensors.index.json"); });
  EXPECT_THAT(msg, HasSubstr("'ghost'"));
  EXPECT_THAT(msg, HasSubstr("does not contain it"));
}

TEST(Weights, BadIndex) {
  TempDir dir;
  test::write_bytes(dir / "m.safetensors.index.json", "{not json");
  EXPECT_THAT(input_error([&] { load_weights(dir / "m.safetensors.index.json"); }), HasSubstr("not valid JSON"));
  test::write_bytes(dir / "m.safetensors.index.json", R"({"metadata":{}})");
  EXPECT_THAT(input_error([&] { load_weights(dir / "m.safetensors.index.json"); }), HasSubstr("weight_map"));
}

TEST(Weights, NonexistentPathSaysWhatWasExpected) {
  TempDir dir;
  auto msg = input_error([&] { load_weights(dir / "nowhere"); });
  EXPECT_THAT(msg, HasSubstr("does not exist"));
  EXPECT_THAT(msg, HasSubstr("expected a .safetensors file"));
}

TEST(Weights, FolderWithoutWeights) {
  TempDir dir;
  write_safetensors(dir / "flux1-dev.safetensors", {{"a", at::ones({1})}});
  auto msg = input_error([&] { load_weights(dir.path()); });
  EXPECT_THAT(msg, HasSubstr("diffusion_pytorch_model.safetensors"));
  EXPECT_THAT(msg, HasSubstr("flux1-dev.safetensors"));  // points at what is there
}

TEST(Weights, PickleCheckpointRefused) {
  TempDir dir;
  test::write_bytes(dir / "model.bin", "PK");
  EXPECT_THAT(input_error([&] { load_weights(dir / "model.bin"); }), HasSubstr("safetensors"));
}

}  // namespace
}  // namespace pardit::io
