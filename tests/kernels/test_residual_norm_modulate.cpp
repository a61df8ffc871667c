// The fused gated residual + LayerNorm + modulation kernel against the LibTorch path's arithmetic
// computed on the CPU in float64 (with its roundings to the storage type), for each dtype, several
// row widths (one or several chunks per thread, idle threads) and a batch of 2 whose modulation
// vectors are chunks of one AdaLN output; plus the model's own LibTorch path on the GPU.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <tuple>

#include "kernel_test.hpp"
#include "pardit/common/error.hpp"
#include "pardit/kernels/residual_norm_modulate.hpp"
#include "pardit/model/layers.hpp"

namespace pardit::kernels {
namespace {

class ResidualNormModulate : public KernelTest<std::tuple<at::ScalarType, int64_t>> {};

TEST_P(ResidualNormModulate, MatchesLibTorchPathOnCpu) {
  const auto [dtype, C] = GetParam();
  const int64_t B = 2, S = 37;
  if (dtype == at::kFloat && C > 16384) GTEST_SKIP() << "wider than the float32 kernel takes";
  at::manual_seed(5);
  auto gpu = at::TensorOptions().dtype(dtype).device(at::kCUDA);
  at::Tensor x = (at::randn({B, S, C}) * 2 + 0.5).to(gpu), y = (at::randn({B, S, C}) * 3).to(gpu);
  at::Tensor mod = (at::randn({B, 6 * C}) * 0.5).to(gpu);  // as AdaLNModulation's output
  auto m = mod.chunk(6, 1);
  ASSERT_TRUE(residual_norm_modulate_supports(x, m[2], y, m[3], m[4]));
  auto [out, normed] = residual_norm_modulate(x, m[2], y, m[3], m[4], 1e-6);

  auto d = [](const at::Tensor& t) { return t.cpu().to(at::kDouble); };
  at::Tensor ref_out = (d(x) + d(m[2]).unsqueeze(1) * d(y)).to(dtype).to(at::kDouble);  // rounded as stored
  at::Tensor mean = ref_out.mean(-1, true), var = (ref_out - mean).pow(2).mean(-1, true);
  at::Tensor w = (1 + d(m[4])).to(dtype).to(at::kDouble).unsqueeze(1);
  at::Tensor ref_normed = (ref_out - mean) / (var + 1e-6).sqrt() * w + d(m[3]).unsqueeze(1);
  auto rel = [](const at::Tensor& got, const at::Tensor& want) {
    return ((got - want).abs() / want.abs().clamp_min(1.0)).max().item<double>();
  };
  EXPECT_LE(rel(d(out), ref_out), storage_tolerance(dtype));
  EXPECT_LE(rel(d(normed), ref_normed), storage_tolerance(dtype));
  EXPECT_FALSE(normed.isnan().any().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(DtypesAndWidths, ResidualNormModulate,
                         ::testing::Combine(::testing::Values(at::kBFloat16, at::kHalf, at::kFloat),
                                            ::testing::Values<int64_t>(64, 3072, 12288, 16384, 32768)));

// Batch 1 on the model's LibTorch path (gated_residual, then norm_modulate's layer_norm with weight
// 1 + scale): the same values within one rounding.
TEST(ResidualNormModulateModelPath, AgreesWithGatedResidualThenNormModulate) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const int64_t S = 129, C = 3072;
  at::manual_seed(9);
  auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  at::Tensor x = at::randn({1, S, C}, gpu), y = at::randn({1, S, C}, gpu);
  auto m = (at::randn({1, 6 * C}, gpu) * 0.5).chunk(6, 1);
  auto [out, normed] = residual_norm_modulate(x, m[2], y, m[3], m[4], 1e-6);
  at::Tensor path_out = model::gated_residual(x, m[2], y);
  at::Tensor path_normed = model::norm_modulate(path_out, m[3], m[4]);
  EXPECT_TRUE(at::equal(out, path_out));  // one rounding of the same float sum
  at::Tensor diff = (normed.to(at::kFloat) - path_normed.to(at::kFloat)).abs();
  EXPECT_LE((diff / path_normed.to(at::kFloat).abs().clamp_min(1.0)).max().item<float>(), 1e-2);
}

TEST(ResidualNormModulateChecks, RefusesWhatItCannotTake) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  at::Tensor x = at::randn({1, 4, 64}, gpu);
  at::Tensor odd = at::randn({1, 4, 60}, gpu), strided = at::randn({1, 4, 128}, gpu).narrow(2, 0, 64);
  at::Tensor v = at::randn({1, 64}, gpu), odd_v = at::randn({1, 60}, gpu);
  EXPECT_TRUE(residual_norm_modulate_supports(x, v, x, v, v));
  EXPECT_FALSE(residual_norm_modulate_supports(odd, odd_v, odd, odd_v, odd_v));  // 120 bytes a row
  EXPECT_FALSE(residual_norm_modulate_supports(x.cpu(), v.cpu(), x.cpu(), v.cpu(), v.cpu()));
  EXPECT_FALSE(residual_norm_modulate_supports(strided, v, x, v, v));
  EXPECT_FALSE(residual_norm_modulate_supports(x, v, strided, v, v));
  EXPECT_FALSE(residual_norm_modulate_supports(x, v, x.to(at::kHalf), v, v));
  EXPECT_FALSE(residual_norm_modulate_supports(x, v.to(at::kHalf), x, v, v));           // modulation dtype
  EXPECT_FALSE(residual_norm_modulate_supports(x, at::randn({2, 64}, gpu), x, v, v));   // gate of batch 2
  EXPECT_FALSE(residual_norm_modulate_supports(x, v, x, at::randn({1, 64, 2}, gpu).select(2, 0), v));  // strided row
  EXPECT_FALSE(residual_norm_modulate_supports(at::randn({1, 4, 32776}, gpu), v, x, v, v));  // wider than the kernel
  EXPECT_THROW(residual_norm_modulate(x, v, x.narrow(1, 0, 2), v, v, 1e-6), Error);  // y of another shape
  // The model's helper takes the LibTorch path for what the kernel refuses.
  const at::Tensor g = at::randn({1, 64, 2}, gpu).select(2, 0);  // a row with stride 2
  auto [out, normed] = model::gated_residual_norm_modulate(x, g, x, v, v);
  EXPECT_TRUE(at::equal(out, model::gated_residual(x, g, x)));
  EXPECT_TRUE(at::equal(normed, model::norm_modulate(out, v, v)));
}

}  // namespace
}  // namespace pardit::kernels
