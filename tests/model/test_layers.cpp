// Small layers: the sinusoidal timestep projection against diffusers; the pending residual that
// carries a block's output to the next block's norm.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "pardit/model/layers.hpp"

namespace pardit::model {
namespace {

TEST(Layers, TimestepProjectionMatchesDiffusers) {
  // Expected values from diffusers 0.42 (torch 2.11, CPU), printed with %.9g:
  //   from diffusers.models.embeddings import get_timestep_embedding
  //   t = torch.tensor([1000.0, 0.5, 0.0, 762.4328])
  //   e = get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0, scale=1)
  //   idx = [0, 1, 5, 63, 127, 128, 129, 200, 255]; print([e[r, i] for i in idx] for each row r)
  const int64_t idx[9] = {0, 1, 5, 63, 127, 128, 129, 200, 255};
  const float expected[4][9] = {
      {0.562379062f, 0.789626658f, 0.922226131f, -0.246917248f, 0.994231641f, 0.826879561f, 0.613587618f,
       -0.612937629f, 0.107254058f},
      {0.87758255f, 0.893693268f, 0.939744115f, 0.999985576f, 1.f, 0.47942555f, 0.448678434f, 0.00281170243f,
       5.37303786e-05f},
      {1.f, 1.f, 1.f, 1.f, 1.f, 0.f, 0.f, 0.f, 0.f},
      {-0.561818004f, 0.876966953f, -0.435924828f, -0.332713336f, 0.996645451f, 0.827260852f, -0.480550647f,
       -0.911073864f, 0.0818399712f},
  };
  at::Tensor t = at::tensor({1000.0f, 0.5f, 0.0f, 762.4328f});
  at::Tensor e = timestep_projection(t, 256);
  ASSERT_EQ(e.sizes().vec(), (std::vector<int64_t>{4, 256}));
  EXPECT_EQ(e.scalar_type(), at::kFloat);
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < 9; ++i)
      // Same float32 formula; 1e-5 leaves room for libm differences of cos/sin at |x| ~ 1000.
      EXPECT_NEAR(e[r][idx[i]].item<float>(), expected[r][i], 1e-5) << "row " << r << " column " << idx[i];
  // cos half first, then sin half (flip_sin_to_cos): at t = 0, cos = 1 and sin = 0 everywhere.
  EXPECT_TRUE(at::equal(e[2].narrow(0, 0, 128), at::ones({128})));
  EXPECT_TRUE(at::equal(e[2].narrow(0, 128, 128), at::zeros({128})));
}

TEST(Layers, TimestepProjectionAcceptsOtherDtypes) {
  at::Tensor t64 = at::tensor({0.25, 1000.0}, at::kDouble);
  at::Tensor a = timestep_projection(t64, 256);
  at::Tensor b = timestep_projection(t64.to(at::kFloat), 256);
  EXPECT_EQ(a.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(a, b));
}

TEST(Layers, PendingResidualEvaluatesLikeTheOpsItDefers) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({2, 7, 16}), y = at::randn({2, 7, 16});
  const auto m = (at::randn({2, 3 * 16}) * 0.5).chunk(3, 1);  // gate, shift, scale
  const PendingResidual pending{x, m[0], y};
  const at::Tensor value = gated_residual(x, m[0], y);
  EXPECT_TRUE(at::equal(pending.value(), value));
  auto [out, normed] = pending.value_and_norm(m[1], m[2]);
  EXPECT_TRUE(at::equal(out, value));
  EXPECT_TRUE(at::allclose(normed, norm_modulate(value, m[1], m[2]), 1e-6, 1e-6));
  // Rows of the sequence: the same rows of the value.
  EXPECT_TRUE(at::equal(pending.rows(2, 3).value(), value.narrow(1, 2, 3)));
  // Without a gate it is x itself.
  const PendingResidual plain = PendingResidual::of(x);
  EXPECT_TRUE(plain.value().is_same(x));
  EXPECT_TRUE(at::equal(plain.value_and_norm(m[1], m[2]).second, norm_modulate(x, m[1], m[2])));
  EXPECT_TRUE(plain.rows(1, 4).value().is_alias_of(x));
}

}  // namespace
}  // namespace pardit::model
