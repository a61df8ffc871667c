// Flux RoPE: position ids layout (FluxPipeline._prepare_latent_image_ids) and apply_rotary.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "pardit/model/rope.hpp"

namespace pardit::model {
namespace {

TEST(Rope, ImagePositionIdsLayout) {
  // diffusers: ids[..., 1] = arange(h/2)[:, None], ids[..., 2] = arange(w/2)[None, :], row-major.
  at::Tensor ids = image_position_ids(/*latent_height=*/4, /*latent_width=*/6);  // 2 x 3 tokens
  ASSERT_EQ(ids.sizes().vec(), (std::vector<int64_t>{6, 3}));
  at::Tensor expected = at::tensor({0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2}, at::kFloat).reshape({6, 3});
  EXPECT_TRUE(at::equal(ids.to(at::kFloat), expected)) << ids;
  // Non-square, larger: token t sits at (t / cols, t % cols).
  at::Tensor big = image_position_ids(12, 8);  // 6 rows x 4 cols
  ASSERT_EQ(big.size(0), 24);
  for (int64_t t = 0; t < 24; ++t) {
    EXPECT_EQ(big[t][0].item<float>(), 0.f);
    EXPECT_EQ(big[t][1].item<float>(), static_cast<float>(t / 4)) << t;
    EXPECT_EQ(big[t][2].item<float>(), static_cast<float>(t % 4)) << t;
  }
  at::Tensor txt = text_position_ids(5);
  EXPECT_EQ(txt.sizes().vec(), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(txt.abs().sum().item<float>(), 0.f);
}

TEST(Rope, ZeroAnglesAreIdentity) {
  at::manual_seed(0);
  const std::array<int64_t, 3> axes = {8, 12, 12};
  RotaryTable table = rotary_table(text_position_ids(7), axes, 10000.0);
  ASSERT_EQ(table.cos.sizes().vec(), (std::vector<int64_t>{7, 32}));
  EXPECT_TRUE(at::equal(table.cos, at::ones({7, 32})));
  EXPECT_TRUE(at::equal(table.sin, at::zeros({7, 32})));
  at::Tensor x = at::randn({2, 7, 3, 32});
  EXPECT_TRUE(at::equal(apply_rotary(x, table), x));
  // Also in bf16: computed in float32, returned in bf16, still exactly x.
  at::Tensor xb = x.to(at::kBFloat16);
  at::Tensor yb = apply_rotary(xb, table);
  EXPECT_EQ(yb.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(yb, xb));
}

TEST(Rope, RotatesInterleavedPairs) {
  // diffusers apply_rotary_emb(use_real_unbind_dim=-1): (a, b) -> (a cos - b sin, b cos + a sin).
  const std::array<int64_t, 3> axes = {2, 2, 2};  // head_dim 6; one frequency per axis: theta^0 = 1
  at::Tensor ids = at::tensor({0.f, 0.5f, 2.f}, at::kFloat).reshape({1, 3});
  RotaryTable table = rotary_table(ids, axes, 10000.0);
  at::Tensor x = at::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).reshape({1, 1, 1, 6});
  at::Tensor y = apply_rotary(x, table).flatten();
  const double angles[3] = {0.0, 0.5, 2.0};
  for (int p = 0; p < 3; ++p) {
    const double a = x.flatten()[2 * p].item<float>(), b = x.flatten()[2 * p + 1].item<float>();
    EXPECT_NEAR(y[2 * p].item<float>(), a * std::cos(angles[p]) - b * std::sin(angles[p]), 1e-6) << p;
    EXPECT_NEAR(y[2 * p + 1].item<float>(), b * std::cos(angles[p]) + a * std::sin(angles[p]), 1e-6) << p;
  }
}

TEST(Rope, TableFrequenciesAndSlice) {
  // Axis of dim d, position p: angle_i = p * theta^(-2i/d), each repeated twice (interleaved).
  const std::array<int64_t, 3> axes = {4, 4, 8};
  at::Tensor ids = image_position_ids(6, 4);  // 3 rows x 2 cols
  RotaryTable table = rotary_table(ids, axes, 10000.0);
  ASSERT_EQ(table.cos.sizes().vec(), (std::vector<int64_t>{6, 16}));
  const int64_t tok = 5;  // (0, 2, 1)
  const double row = 2, col = 1;
  for (int i = 0; i < 2; ++i) {
    const double f = std::pow(10000.0, -2.0 * i / 4);
    EXPECT_NEAR(table.cos[tok][4 + 2 * i].item<float>(), std::cos(row * f), 1e-6);
    EXPECT_NEAR(table.cos[tok][4 + 2 * i + 1].item<float>(), std::cos(row * f), 1e-6);
    EXPECT_NEAR(table.sin[tok][4 + 2 * i].item<float>(), std::sin(row * f), 1e-6);
  }
  for (int i = 0; i < 4; ++i) {
    const double f = std::pow(10000.0, -2.0 * i / 8);
    EXPECT_NEAR(table.sin[tok][8 + 2 * i + 1].item<float>(), std::sin(col * f), 1e-6);
  }
  RotaryTable s = table.slice(2, 3);
  EXPECT_TRUE(at::equal(s.cos, table.cos.narrow(0, 2, 3)));
  EXPECT_TRUE(at::equal(s.sin, table.sin.narrow(0, 2, 3)));
}

}  // namespace
}  // namespace pardit::model
