// Prompt-embedding input: round trip, files written by h5py, every validation error.
#include "pardit/io/prompt_file.hpp"
#include "test_util.hpp"

namespace pardit::io {
namespace {
using test::input_error;
using test::TempDir;
using ::testing::HasSubstr;

// Tiny model: joint 8, pooled 4, 16 latent channels; image 32x48 -> latents 4x6.
const PromptFileShape kShape{.joint_attention_dim = 8, .pooled_projection_dim = 4, .latent_channels = 16,
                             .latent_height = 4, .latent_width = 6};

PromptSet sample(int64_t p = 2, int64_t tokens = 5) {
  PromptSet s;
  s.prompt_embeds = at::randn({p, tokens, 8});
  s.pooled_prompt_embeds = at::randn({p, 4});
  return s;
}

TEST(PromptFile, RoundTripWithEverything) {
  TempDir dir;
  PromptSet s = sample(3);
  s.negative_prompt_embeds = at::randn({3, 5, 8});
  s.negative_pooled_prompt_embeds = at::randn({3, 4});
  s.initial_noise = at::randn({3, 16, 4, 6});
  s.prompts = {"one", "two", "three"};
  write_prompt_file(dir / "p.h5", s);
  PromptSet r = read_prompt_file(dir / "p.h5", kShape);
  EXPECT_EQ(r.size(), 3);
  EXPECT_TRUE(at::equal(r.prompt_embeds, s.prompt_embeds));
  EXPECT_TRUE(at::equal(r.pooled_prompt_embeds, s.pooled_prompt_embeds));
  EXPECT_TRUE(at::equal(r.negative_prompt_embeds, s.negative_prompt_embeds));
  EXPECT_TRUE(at::equal(r.negative_pooled_prompt_embeds, s.negative_pooled_prompt_embeds));
  EXPECT_TRUE(at::equal(r.initial_noise, s.initial_noise));
  EXPECT_EQ(r.prompts, s.prompts);
}

TEST(PromptFile, MinimalHasNoOptionals) {
  TempDir dir;
  write_prompt_file(dir / "p.h5", sample(1));
  PromptSet r = read_prompt_file(dir / "p.h5", kShape);
  EXPECT_EQ(r.size(), 1);
  EXPECT_FALSE(r.negative_prompt_embeds.defined());
  EXPECT_FALSE(r.initial_noise.defined());
  EXPECT_TRUE(r.prompts.empty());
}

TEST(PromptFile, H5pyFileWithOtherFloatDtypes) {
  TempDir dir;
  auto file = dir / "py.h5";
  ASSERT_EQ(test::run_python(dir, R"(
import h5py, numpy as np
with h5py.File(")" + file.string() + R"(", "w") as f:
    f["prompt_embeds"] = np.full((2, 3, 8), 0.5, dtype=np.float16)
    f["pooled_prompt_embeds"] = np.arange(8, dtype=np.float64).reshape(2, 4)
    f["prompts"] = np.array([b"fixed one", b"fixed two"])   # fixed-length strings
)"), 0);
  PromptSet r = read_prompt_file(file, kShape);
  EXPECT_EQ(r.prompt_embeds.scalar_type(), at::kFloat);
  EXPECT_EQ(r.pooled_prompt_embeds.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(r.prompt_embeds, at::full({2, 3, 8}, 0.5)));
  EXPECT_TRUE(at::equal(r.pooled_prompt_embeds, at::arange(8, at::kFloat).reshape({2, 4})));
  EXPECT_EQ(r.prompts, (std::vector<std::string>{"fixed one", "fixed two"}));
}

TEST(PromptFile, MissingDatasetsListsWhatWasFound) {
  TempDir dir;
  PromptSet s;
  s.pooled_prompt_embeds = at::randn({1, 4});
  s.initial_noise = at::randn({1, 16, 4, 6});
  write_prompt_file(dir / "p.h5", s);
  auto msg = input_error([&] { read_prompt_file(dir / "p.h5", kShape); });
  EXPECT_THAT(msg, HasSubstr("no /prompt_embeds"));
  EXPECT_THAT(msg, HasSubstr("found: initial_noise, pooled_prompt_embeds"));
}

TEST(PromptFile, ZeroPrompts) {
  TempDir dir;
  write_prompt_file(dir / "p.h5", sample(0));
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }), HasSubstr("P = 0"));
}

TEST(PromptFile, WrongModelDimensions) {
  TempDir dir;
  PromptSet s = sample();
  s.prompt_embeds = at::randn({2, 5, 16});
  write_prompt_file(dir / "p.h5", s);
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }),
              HasSubstr("joint_attention_dim = 8"));

  s = sample();
  s.pooled_prompt_embeds = at::randn({2, 7});
  write_prompt_file(dir / "p.h5", s);
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }),
              HasSubstr("pooled_projection_dim = 4"));

  s = sample();
  s.prompt_embeds = at::randn({2, 8});
  write_prompt_file(dir / "p.h5", s);
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }), HasSubstr("expected [P, L, 8]"));
}

TEST(PromptFile, PromptCountDisagrees) {
  TempDir dir;
  PromptSet s = sample(2);
  s.pooled_prompt_embeds = at::randn({3, 4});
  write_prompt_file(dir / "p.h5", s);
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }), HasSubstr("has 3 prompts"));

  s = sample(2);
  s.prompts = {"only one"};
  write_prompt_file(dir / "p.h5", s);
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }), HasSubstr("/prompts has 1 strings"));
}

TEST(PromptFile, NegativesComeAsAMatchingPair) {
  TempDir dir;
  PromptSet s = sample();
  s.negative_prompt_embeds = at::randn({2, 5, 8});
  write_prompt_file(dir / "p.h5", s);
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }), HasSubstr("need both"));

  s.negative_pooled_prompt_embeds = at::randn({2, 4});
  s.negative_prompt_embeds = at::randn({2, 6, 8});
  write_prompt_file(dir / "p.h5", s);
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }),
              HasSubstr("/negative_prompt_embeds is [2, 6, 8] but /prompt_embeds is [2, 5, 8]"));
}

TEST(PromptFile, InitialNoiseMustMatchTheImage) {
  TempDir dir;
  PromptSet s = sample();
  s.initial_noise = at::randn({2, 16, 8, 8});
  write_prompt_file(dir / "p.h5", s);
  auto msg = input_error([&] { read_prompt_file(dir / "p.h5", kShape); });
  EXPECT_THAT(msg, HasSubstr("corresponds to a 64x64"));
  EXPECT_THAT(msg, HasSubstr("for a 32x48 image"));
  EXPECT_THAT(msg, HasSubstr("--height/--width"));
}

TEST(PromptFile, IntegerEmbeddingsRefused) {
  TempDir dir;
  auto file = dir / "int.h5";
  ASSERT_EQ(test::run_python(dir, R"(
import h5py, numpy as np
with h5py.File(")" + file.string() + R"(", "w") as f:
    f["prompt_embeds"] = np.zeros((1, 3, 8), dtype=np.int32)
    f["pooled_prompt_embeds"] = np.zeros((1, 4), dtype=np.float32)
)"), 0);
  EXPECT_THAT(input_error([&] { read_prompt_file(file, kShape); }), HasSubstr("not a floating-point dataset"));
}

TEST(PromptFile, NotHdf5OrMissing) {
  TempDir dir;
  test::write_bytes(dir / "p.h5", "garbage");
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "p.h5", kShape); }), HasSubstr("not an HDF5 file"));
  EXPECT_THAT(input_error([&] { read_prompt_file(dir / "none.h5", kShape); }), HasSubstr("does not exist"));
}

}  // namespace
}  // namespace pardit::io
