// Synthetic prompt embeddings: deterministic per (seed, index), distinct across indices/seeds.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "pardit/pipeline/conditioning.hpp"
#include "pardit/pipeline/latents.hpp"

namespace pardit::pipeline {
namespace {

TEST(SyntheticConditioning, ShapesAndDeterminism) {
  Conditioning a = synthetic_conditioning(3, 0, 32, 64, 24, false);
  EXPECT_EQ(a.prompt_embeds.sizes().vec(), (std::vector<int64_t>{1, 32, 64}));
  EXPECT_EQ(a.pooled_prompt_embeds.sizes().vec(), (std::vector<int64_t>{1, 24}));
  EXPECT_EQ(a.prompt_embeds.scalar_type(), at::kFloat);
  EXPECT_TRUE(a.prompt_embeds.device().is_cpu());
  EXPECT_FALSE(a.has_negative());
  at::manual_seed(99);  // the global generator plays no part
  Conditioning b = synthetic_conditioning(3, 0, 32, 64, 24, false);
  EXPECT_TRUE(at::equal(a.prompt_embeds, b.prompt_embeds));
  EXPECT_TRUE(at::equal(a.pooled_prompt_embeds, b.pooled_prompt_embeds));
  // Standard normal.
  EXPECT_NEAR(a.prompt_embeds.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(a.prompt_embeds.std().item<double>(), 1.0, 0.05);
}

TEST(SyntheticConditioning, DifferentAcrossIndicesAndSeeds) {
  Conditioning p0 = synthetic_conditioning(0, 0, 16, 32, 8, false);
  Conditioning p1 = synthetic_conditioning(0, 1, 16, 32, 8, false);
  Conditioning q0 = synthetic_conditioning(1, 0, 16, 32, 8, false);
  EXPECT_FALSE(at::equal(p0.prompt_embeds, p1.prompt_embeds));
  EXPECT_FALSE(at::equal(p0.pooled_prompt_embeds, p1.pooled_prompt_embeds));
  EXPECT_FALSE(at::equal(p0.prompt_embeds, q0.prompt_embeds));
  // Neighbouring (seed, index) pairs must not collide either: (0, 1) vs (1, 0) and many more.
  for (uint64_t seed = 0; seed < 4; ++seed)
    for (int64_t i = 0; i < 4; ++i)
      for (uint64_t seed2 = 0; seed2 < 4; ++seed2)
        for (int64_t j = 0; j < 4; ++j) {
          if (seed == seed2 && i == j) continue;
          EXPECT_FALSE(at::equal(synthetic_conditioning(seed, i, 4, 8, 4, false).pooled_prompt_embeds,
                                 synthetic_conditioning(seed2, j, 4, 8, 4, false).pooled_prompt_embeds))
              << "(" << seed << ", " << i << ") vs (" << seed2 << ", " << j << ")";
        }
}

TEST(SyntheticConditioning, IndependentOfTheNoise) {
  // Prompt p's noise uses seed + p; embeddings must not reuse that stream.
  const LatentShape s = LatentShape::for_image(16, 16);  // 16 x 2 x 2 = 64 values
  at::Tensor noise = initial_noise(5, s).flatten();
  for (int64_t i = 0; i < 3; ++i) {
    at::Tensor e = synthetic_conditioning(5, i, 1, 64, 4, false).prompt_embeds.flatten();
    EXPECT_FALSE(at::equal(e, noise)) << i;
  }
}

TEST(SyntheticConditioning, NegativesForTrueCfg) {
  Conditioning c = synthetic_conditioning(2, 1, 8, 16, 4, true);
  ASSERT_TRUE(c.has_negative());
  EXPECT_EQ(c.negative_prompt_embeds.sizes(), c.prompt_embeds.sizes());
  EXPECT_EQ(c.negative_pooled_prompt_embeds.sizes(), c.pooled_prompt_embeds.sizes());
  EXPECT_FALSE(at::equal(c.negative_prompt_embeds, c.prompt_embeds));
  // Asking for negatives does not change the positives.
  Conditioning d = synthetic_conditioning(2, 1, 8, 16, 4, false);
  EXPECT_TRUE(at::equal(c.prompt_embeds, d.prompt_embeds));
  EXPECT_TRUE(at::equal(c.pooled_prompt_embeds, d.pooled_prompt_embeds));
}

}  // namespace
}  // namespace pardit::pipeline
