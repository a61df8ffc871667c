// Latent shapes, 2x2 packing (FluxPipeline._pack_latents / _unpack_latents) and the seeded noise.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>

#include "pardit/common/error.hpp"
#include "pardit/pipeline/latents.hpp"
#include "test_support.hpp"

namespace pardit::pipeline {
namespace {

TEST(LatentShape, ForImage) {
  LatentShape s = LatentShape::for_image(1024, 768);
  EXPECT_EQ(s.channels, 16);
  EXPECT_EQ(s.height, 128);
  EXPECT_EQ(s.width, 96);
  EXPECT_EQ(s.tokens(), 64 * 48);
  EXPECT_EQ(s.token_rows(), 64);
  EXPECT_EQ(LatentShape::for_image(16, 16).tokens(), 1);
}

TEST(LatentShape, RefusesSizesNotMultipleOf16WithASuggestion) {
  try {
    LatentShape::for_image(100, 64);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("100"), std::string::npos) << msg;
    EXPECT_NE(msg.find("multiple"), std::string::npos) << msg;
    EXPECT_NE(msg.find("16"), std::string::npos) << msg;
    // The suggested size must itself be valid: 96x64 (or 112x64).
    EXPECT_TRUE(msg.find("96x64") != std::string::npos || msg.find("112x64") != std::string::npos) << msg;
  }
  for (auto [h, w] : {std::pair<int64_t, int64_t>{64, 72}, {8, 16}, {0, 16}, {-16, 16}, {1000, 1000}})
    EXPECT_THROW(LatentShape::for_image(h, w), InputError) << h << "x" << w;
}

TEST(Latents, PackLayoutEqualsFluxPipeline) {
  // x = arange(2*3*4*6).reshape(2, 3, 4, 6); p = FluxPipeline._pack_latents(x, 2, 3, 4, 6)
  // -> p[0, 0] = [0, 1, 6, 7, 24, 25, 30, 31, 48, 49, 54, 55]
  //    p[1, 4] = [86, 87, 92, 93, 110, 111, 116, 117, 134, 135, 140, 141]
  // and in general p[b, (y/2)*(w/2) + x/2, c*4 + (y%2)*2 + x%2] = latents[b, c, y, x] (checked
  // against _pack_latents over the whole tensor with diffusers 0.42).
  at::Tensor x = at::arange(2 * 3 * 4 * 6, at::kFloat).reshape({2, 3, 4, 6});
  at::Tensor p = pack_latents(x);
  ASSERT_EQ(p.sizes().vec(), (std::vector<int64_t>{2, 6, 12}));
  EXPECT_TRUE(at::equal(p[0][0], at::tensor({0.f, 1.f, 6.f, 7.f, 24.f, 25.f, 30.f, 31.f, 48.f, 49.f, 54.f, 55.f})));
  EXPECT_TRUE(at::equal(p[1][4], at::tensor({86.f, 87.f, 92.f, 93.f, 110.f, 111.f, 116.f, 117.f, 134.f, 135.f,
                                             140.f, 141.f})));
  for (int b = 0; b < 2; ++b)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int xx = 0; xx < 6; ++xx)
          ASSERT_EQ(p[b][(y / 2) * 3 + xx / 2][c * 4 + (y % 2) * 2 + xx % 2].item<float>(),
                    x[b][c][y][xx].item<float>())
              << b << " " << c << " " << y << " " << xx;
}

TEST(Latents, PackUnpackRoundTrip) {
  at::manual_seed(1);
  LatentShape s = LatentShape::for_image(64, 96);  // 8 x 12 latent
  at::Tensor x = at::randn({1, s.channels, s.height, s.width});
  at::Tensor p = pack_latents(x);
  ASSERT_EQ(p.sizes().vec(), (std::vector<int64_t>{1, s.tokens(), 4 * s.channels}));
  EXPECT_TRUE(at::equal(unpack_latents(p, s), x));
  // And the other way round, from a packed tensor.
  at::Tensor q = at::randn({1, s.tokens(), 64});
  EXPECT_TRUE(at::equal(pack_latents(unpack_latents(q, s)), q));
}

TEST(Latents, InitialNoiseDeterministicAndEqualToTorchRandn) {
  // torch.randn((1, 16, 4, 6), generator=torch.Generator().manual_seed(seed)).flatten() at
  // [0, 1, 2, 50, 383], and the float64 sum of all 384 values (torch 2.11, %.9g):
  LatentShape s = LatentShape::for_image(32, 48);
  struct Expect {
    uint64_t seed;
    float values[5];
    double sum;
  };
  const Expect expect[] = {
      {0, {-1.12583983f, -1.1523602f, -0.250578582f, 1.05535746f, -0.234473392f}, 16.0445976},
      {42, {1.92691529f, 1.48728406f, 0.900717199f, 0.0780238733f, -0.359457254f}, 19.5521969},
  };
  const int64_t at_index[5] = {0, 1, 2, 50, 383};
  for (const auto& e : expect) {
    SCOPED_TRACE(e.seed);
    at::Tensor n = initial_noise(e.seed, s);
    ASSERT_EQ(n.sizes().vec(), (std::vector<int64_t>{1, 16, 4, 6}));
    EXPECT_EQ(n.scalar_type(), at::kFloat);
    at::Tensor f = n.flatten();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(f[at_index[i]].item<float>(), e.values[i]) << at_index[i];
    EXPECT_NEAR(n.to(at::kDouble).sum().item<double>(), e.sum, 1e-6);
    EXPECT_TRUE(at::equal(n, initial_noise(e.seed, s)));
  }
  EXPECT_FALSE(at::equal(initial_noise(0, s), initial_noise(1, s)));
  // The global generator plays no part.
  at::manual_seed(123);
  at::Tensor a = initial_noise(5, s);
  at::randn({100});
  EXPECT_TRUE(at::equal(a, initial_noise(5, s)));
}

TEST(Latents, InitialNoiseBitIdenticalToPythonTorch) {
  if (!pardit::test::python_has("torch")) GTEST_SKIP() << "python3 with torch not available";
  pardit::test::TempDir dir;
  const LatentShape s = LatentShape::for_image(64, 96);  // [1, 16, 8, 12]
  auto r = pardit::test::run_python(dir.path(), R"PY(
import sys, torch
n = torch.randn((1, 16, 8, 12), generator=torch.Generator().manual_seed(int(sys.argv[2])), dtype=torch.float32)
open(sys.argv[1], "wb").write(n.numpy().tobytes())
)PY", (dir / "noise.bin").string() + " 1234567");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string bytes = pardit::test::read_file(dir / "noise.bin");
  at::Tensor n = initial_noise(1234567, s).contiguous();
  ASSERT_EQ(bytes.size(), static_cast<size_t>(n.numel()) * sizeof(float));
  EXPECT_EQ(std::memcmp(bytes.data(), n.data_ptr<float>(), bytes.size()), 0);
}

}  // namespace
}  // namespace pardit::pipeline
