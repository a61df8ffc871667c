// The fused q/k/v kernel against the LibTorch path (rms_norm, then the rotary complex multiply)
// computed on the CPU in float64 from the same inputs, for each dtype and several head sizes,
// text/image row offsets included; plus its argument checks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "kernel_test.hpp"
#include "pardit/common/error.hpp"
#include "pardit/kernels/qkv_norm_rope.hpp"
#include "pardit/model/rope.hpp"

namespace pardit::kernels {
namespace {

// Reference for rows of one stream: [B, S, 3*H*D] -> q, k, v [B, S, H, D] in float64.
std::tuple<at::Tensor, at::Tensor, at::Tensor> reference(const at::Tensor& qkv, const at::Tensor& wq,
                                                         const at::Tensor& wk, double q_eps, double k_eps,
                                                         const model::RotaryTable& rope, int64_t head_dim) {
  at::Tensor t = qkv.cpu().to(at::kDouble).unflatten(-1, {3, -1, head_dim});
  auto norm = [&](const at::Tensor& x, const at::Tensor& w, double eps) {
    return at::rms_norm(x, {head_dim}, w.cpu().to(at::kDouble), eps);
  };
  auto rotate = [&](const at::Tensor& x) {  // pairs (2i, 2i+1) by the angle in cos/sin[:, 2i]
    at::Tensor c = rope.cos.cpu().to(at::kDouble).slice(1, 0, head_dim, 2).unsqueeze(0).unsqueeze(2);
    at::Tensor s = rope.sin.cpu().to(at::kDouble).slice(1, 0, head_dim, 2).unsqueeze(0).unsqueeze(2);
    at::Tensor x0 = x.slice(-1, 0, head_dim, 2), x1 = x.slice(-1, 1, head_dim, 2);
    return at::stack({x0 * c - x1 * s, x1 * c + x0 * s}, -1).flatten(-2);
  };
  return {rotate(norm(t.select(2, 0), wq, q_eps)), rotate(norm(t.select(2, 1), wk, k_eps)), t.select(2, 2)};
}

class QkvNormRope : public KernelTest<std::tuple<at::ScalarType, int64_t>> {};

TEST_P(QkvNormRope, MatchesLibTorchPathOnCpu) {
  const auto [dtype, head_dim] = GetParam();
  const int64_t B = 2, H = 3, s_txt = 5, s_img = 37, rows = s_txt + s_img;
  at::manual_seed(7);
  auto gpu = at::TensorOptions().dtype(dtype).device(at::kCUDA);
  at::Tensor txt = (at::randn({B, s_txt, 3 * H * head_dim}) * 3).to(gpu);
  at::Tensor img = (at::randn({B, s_img, 3 * H * head_dim}) * 3).to(gpu);
  at::Tensor wq_t = (1 + 0.2 * at::randn({head_dim})).to(gpu), wk_t = (1 + 0.2 * at::randn({head_dim})).to(gpu);
  at::Tensor wq_i = (1 + 0.2 * at::randn({head_dim})).to(gpu), wk_i = (1 + 0.2 * at::randn({head_dim})).to(gpu);
  // Flux's layout of position ids: text rows 0, image rows (0, row, col).
  at::Tensor ids = at::zeros({rows, 3});
  ids.slice(0, s_txt).select(1, 1).copy_((at::arange(s_img) / 6).floor());
  ids.slice(0, s_txt).select(1, 2).copy_(at::arange(s_img) % 6);
  const int64_t a = head_dim / 8 * 2;  // axes dims summing to head_dim, each even
  model::RotaryTable rope = model::rotary_table(ids, {head_dim - 2 * a, a, a}, 10000.0);
  model::RotaryTable rope_gpu{rope.cos.cuda(), rope.sin.cuda(), rope.cis.cuda()};

  at::Tensor packed = at::full({1, B, rows, 3, H, head_dim}, std::nan(""), gpu);
  qkv_norm_rope(txt, wq_t, wk_t, 1e-6, 1e-5, rope_gpu.cos, rope_gpu.sin, packed, 0);
  qkv_norm_rope(img, wq_i, wk_i, 1e-6, 1e-5, rope_gpu.cos, rope_gpu.sin, packed, s_txt);
  const at::Tensor out = packed[0].permute({2, 0, 1, 3, 4});  // [3, B, rows, H, D]
  at::Tensor got = out.cpu().to(at::kDouble);

  auto [tq, tk, tv] = reference(txt, wq_t, wk_t, 1e-6, 1e-5, rope.slice(0, s_txt), head_dim);
  auto [iq, ik, iv] = reference(img, wq_i, wk_i, 1e-6, 1e-5, rope.slice(s_txt, s_img), head_dim);
  const at::Tensor expected[3] = {at::cat({tq, iq}, 1), at::cat({tk, ik}, 1), at::cat({tv, iv}, 1)};
  for (int which = 0; which < 3; ++which) {
    at::Tensor err = (got[which] - expected[which]).abs() / expected[which].abs().clamp_min(1.0);
    EXPECT_LE(err.max().item<double>(), storage_tolerance(dtype)) << "q/k/v block " << which;
    EXPECT_FALSE(got[which].isnan().any().item<bool>()) << "rows left unwritten in block " << which;
  }
  // v moves bit for bit.
  EXPECT_TRUE(at::equal(out[2].slice(1, s_txt).cpu(), img.unflatten(-1, {3, H, head_dim}).select(2, 2).cpu()));
}

INSTANTIATE_TEST_SUITE_P(DtypesAndHeadSizes, QkvNormRope,
                         ::testing::Combine(::testing::Values(at::kBFloat16, at::kHalf, at::kFloat),
                                            ::testing::Values<int64_t>(16, 64, 96, 128, 256)));

// Heads in G groups ([G, B, S, 3, H/G, D], Ulysses' send layout): the same values as one group,
// re-arranged.
TEST(QkvNormRopeGrouped, EqualsUngroupedRearranged) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const int64_t B = 2, H = 6, D = 64, s_txt = 3, s_img = 11, rows = s_txt + s_img;
  at::manual_seed(11);
  auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  at::Tensor txt = at::randn({B, s_txt, 3 * H * D}, gpu), img = at::randn({B, s_img, 3 * H * D}, gpu);
  at::Tensor wq = (1 + 0.2 * at::randn({D})).to(gpu), wk = (1 + 0.2 * at::randn({D})).to(gpu);
  at::Tensor ids = at::zeros({rows, 3});
  ids.slice(0, s_txt).select(1, 2).copy_(at::arange(s_img));
  model::RotaryTable rope = model::rotary_table(ids, {16, 24, 24}, 10000.0);
  at::Tensor cos = rope.cos.cuda(), sin = rope.sin.cuda();
  at::Tensor flat = at::empty({1, B, rows, 3, H, D}, gpu);
  qkv_norm_rope(txt, wq, wk, 1e-6, 1e-6, cos, sin, flat, 0);
  qkv_norm_rope(img, wq, wk, 1e-6, 1e-6, cos, sin, flat, s_txt);
  for (int64_t G : {2, 3, 6}) {
    at::Tensor grouped = at::full({G, B, rows, 3, H / G, D}, std::nan(""), gpu);
    qkv_norm_rope(txt, wq, wk, 1e-6, 1e-6, cos, sin, grouped, 0);
    qkv_norm_rope(img, wq, wk, 1e-6, 1e-6, cos, sin, grouped, s_txt);
    // [G, B, S, 3, H/G, D] -> [B, S, 3, G, H/G, D] -> [1, B, S, 3, H, D]
    at::Tensor back = grouped.permute({1, 2, 3, 0, 4, 5}).reshape({1, B, rows, 3, H, D});
    EXPECT_TRUE(at::equal(back.cpu(), flat.cpu())) << "G = " << G;
  }
  at::Tensor bad = at::empty({4, B, rows, 3, 1, D}, gpu);  // 4 groups of 1 head: 4 heads, not 6
  EXPECT_THROW(qkv_norm_rope(txt, wq, wk, 1e-6, 1e-6, cos, sin, bad, 0), Error);
}

// Projections from weights in head-group order ([B, S, G_in, 3, H/G_in, D]): the same values as
// from the checkpoint order, for every pairing of input and output groups, for one input group
// written on its own (a GEMM of that group's rows), and with the own group written to a tensor of
// its own (Ulysses: straight into the receive buffer).
TEST(QkvNormRopeGroupedInput, EqualsCheckpointOrder) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const int64_t B = 2, H = 6, D = 64, S = 13;
  at::manual_seed(23);
  auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  at::Tensor qkv = at::randn({B, S, 3 * H * D}, gpu);
  at::Tensor wq = (1 + 0.2 * at::randn({D})).to(gpu), wk = (1 + 0.2 * at::randn({D})).to(gpu);
  at::Tensor ids = at::zeros({S, 3});
  ids.select(1, 2).copy_(at::arange(S));
  model::RotaryTable rope = model::rotary_table(ids, {16, 24, 24}, 10000.0);
  at::Tensor cos = rope.cos.cuda(), sin = rope.sin.cuda();
  // [B, S, 3, G_in, H/G_in, D] -> [B, S, G_in, 3, H/G_in, D]
  auto in_groups = [&](int64_t g) {
    return qkv.view({B, S, 3, g, H / g, D}).permute({0, 1, 3, 2, 4, 5}).reshape({B, S, 3 * H * D});
  };
  for (int64_t G : {1, 2, 3, 6}) {
    at::Tensor expected = at::empty({G, B, S, 3, H / G, D}, gpu);
    qkv_norm_rope(qkv, wq, wk, 1e-6, 1e-6, cos, sin, expected, 0);
    for (int64_t G_in : {2, 3, 6}) {
      at::Tensor got = at::full({G, B, S, 3, H / G, D}, std::nan(""), gpu);
      qkv_norm_rope(in_groups(G_in), wq, wk, 1e-6, 1e-6, cos, sin, got, 0, G_in);
      EXPECT_TRUE(at::equal(got.cpu(), expected.cpu())) << "G = " << G << ", G_in = " << G_in;
    }
    if (G == 1) continue;
    // Group g alone from its part of the grouped projection, and groups 1.. together.
    const at::Tensor grouped = in_groups(G);
    const int64_t w = 3 * H / G * D;
    for (int64_t g = 0; g < G; ++g) {
      at::Tensor one = at::full({1, B, S, 3, H / G, D}, std::nan(""), gpu);
      qkv_norm_rope(grouped.narrow(2, g * w, w).contiguous(), wq, wk, 1e-6, 1e-6, cos, sin, one, 0);
      EXPECT_TRUE(at::equal(one[0].cpu(), expected[g].cpu())) << "group " << g << " of " << G;
    }
    // Every group in one call, the own group (the last) into a tensor of its own; its block of
    // out is left as it was.
    at::Tensor others = at::full({G, B, S, 3, H / G, D}, std::nan(""), gpu);
    at::Tensor own = at::full({1, B, S, 3, H / G, D}, std::nan(""), gpu);
    qkv_norm_rope(grouped, wq, wk, 1e-6, 1e-6, cos, sin, others, 0, G, own, G - 1);
    EXPECT_TRUE(at::equal(own[0].cpu(), expected[G - 1].cpu())) << "own group of " << G;
    EXPECT_TRUE(at::equal(others.narrow(0, 0, G - 1).cpu(), expected.narrow(0, 0, G - 1).cpu())) << "G = " << G;
    EXPECT_TRUE(others[G - 1].isnan().all().item<bool>()) << "the own group's block of out was written";
    EXPECT_THROW(qkv_norm_rope(grouped, wq, wk, 1e-6, 1e-6, cos, sin, others, 0, G, own, G), Error);  // no such group
    at::Tensor rest = at::full({G - 1, B, S, 3, H / G, D}, std::nan(""), gpu);
    qkv_norm_rope(grouped.narrow(2, w, (G - 1) * w).contiguous(), wq, wk, 1e-6, 1e-6, cos, sin, rest, 0, G - 1);
    EXPECT_TRUE(at::equal(rest.cpu(), expected.narrow(0, 1, G - 1).cpu())) << "groups 1.. of " << G;
  }
  at::Tensor out = at::empty({1, B, S, 3, H, D}, gpu);
  EXPECT_THROW(qkv_norm_rope(qkv, wq, wk, 1e-6, 1e-6, cos, sin, out, 0, 4), Error);  // 6 heads, 4 groups
  const at::Tensor wider = at::randn({B, S, 2 * 3 * H * D}, gpu).narrow(2, 0, 3 * H * D);
  EXPECT_THROW(qkv_norm_rope(wider, wq, wk, 1e-6, 1e-6, cos, sin, out, 0), Error);  // rows not contiguous
}

// In place (the model's one-GPU path: both streams' projections written into one [1, S, 3*H*D]
// buffer, q and k rewritten there, v untouched): equal to the out-of-place result.
TEST(QkvNormRopeInPlace, EqualsOutOfPlace) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const int64_t H = 4, D = 128, s_txt = 7, s_img = 29, rows = s_txt + s_img;
  at::manual_seed(13);
  auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  at::Tensor packed = at::randn({1, rows, 3 * H * D}, gpu);
  at::Tensor wq_t = (1 + 0.2 * at::randn({D})).to(gpu), wk_t = (1 + 0.2 * at::randn({D})).to(gpu);
  at::Tensor wq_i = (1 + 0.2 * at::randn({D})).to(gpu), wk_i = (1 + 0.2 * at::randn({D})).to(gpu);
  at::Tensor ids = at::zeros({rows, 3});
  ids.slice(0, s_txt).select(1, 1).copy_(at::arange(s_img));
  model::RotaryTable rope = model::rotary_table(ids, {16, 56, 56}, 10000.0);
  at::Tensor cos = rope.cos.cuda(), sin = rope.sin.cuda();
  at::Tensor expected = at::empty({1, 1, rows, 3, H, D}, gpu);
  qkv_norm_rope(packed.narrow(1, 0, s_txt).clone(), wq_t, wk_t, 1e-6, 1e-6, cos, sin, expected, 0);
  qkv_norm_rope(packed.narrow(1, s_txt, s_img).clone(), wq_i, wk_i, 1e-6, 1e-6, cos, sin, expected, s_txt);
  const at::Tensor v_before = packed.view({rows, 3, H, D}).select(1, 2).clone();
  const at::Tensor out = packed.view({1, 1, rows, 3, H, D});
  qkv_norm_rope(packed.narrow(1, 0, s_txt), wq_t, wk_t, 1e-6, 1e-6, cos, sin, out, 0);
  qkv_norm_rope(packed.narrow(1, s_txt, s_img), wq_i, wk_i, 1e-6, 1e-6, cos, sin, out, s_txt);
  EXPECT_TRUE(at::equal(out.cpu(), expected.cpu()));
  EXPECT_TRUE(at::equal(packed.view({rows, 3, H, D}).select(1, 2).cpu(), v_before.cpu()));
  // Sharing memory any other way would race: refused.
  EXPECT_THROW(qkv_norm_rope(packed.narrow(1, 0, s_txt), wq_t, wk_t, 1e-6, 1e-6, cos, sin, out, 1), Error);
  // A stream with no rows (a PipeFusion patch without text) is nothing to do, not a refused alias.
  const at::Tensor before = out.clone();
  EXPECT_NO_THROW(qkv_norm_rope(packed.narrow(1, 0, 0), wq_t, wk_t, 1e-6, 1e-6, cos, sin, out, 0));
  EXPECT_TRUE(at::equal(out.cpu(), before.cpu()));
}

// Data aligned to a pair of elements but not to 16 bytes takes the kernel's pair-wise path: the
// same values as the 16-byte path up to the order of the sum of squares.
TEST(QkvNormRopePairAligned, MatchesWidePath) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const int64_t H = 3, D = 128, S = 19, n = S * 3 * H * D;
  at::manual_seed(17);
  auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  at::Tensor storage = at::randn({n + 2}, gpu);
  at::Tensor shifted = storage.narrow(0, 2, n).view({1, S, 3 * H * D});  // 4-byte aligned only
  at::Tensor wq = (1 + 0.2 * at::randn({D})).to(gpu), wk = (1 + 0.2 * at::randn({D})).to(gpu);
  at::Tensor ids = at::zeros({S, 3});
  ids.select(1, 2).copy_(at::arange(S));
  model::RotaryTable rope = model::rotary_table(ids, {32, 48, 48}, 10000.0);
  at::Tensor cos = rope.cos.cuda(), sin = rope.sin.cuda();
  at::Tensor pair = at::empty({1, 1, S, 3, H, D}, gpu), wide = at::empty({1, 1, S, 3, H, D}, gpu);
  qkv_norm_rope(shifted, wq, wk, 1e-6, 1e-6, cos, sin, pair, 0);
  qkv_norm_rope(shifted.clone(), wq, wk, 1e-6, 1e-6, cos, sin, wide, 0);
  at::Tensor a = pair.cpu().to(at::kDouble), b = wide.cpu().to(at::kDouble);
  EXPECT_LE(((a - b).abs() / b.abs().clamp_min(1.0)).max().item<double>(), 1e-2);  // one bf16 rounding
  EXPECT_TRUE(at::equal(pair.select(3, 2).cpu(), wide.select(3, 2).cpu()));      // v bit for bit
}

TEST(QkvNormRopeChecks, RefusesMismatchedShapes) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  at::Tensor qkv = at::randn({1, 4, 3 * 2 * 8}, gpu), w = at::ones({8}, gpu);
  at::Tensor table = at::zeros({4, 8}, at::TensorOptions().device(at::kCUDA));
  at::Tensor out = at::empty({1, 1, 4, 3, 2, 8}, gpu);
  EXPECT_NO_THROW(qkv_norm_rope(qkv, w, w, 1e-6, 1e-6, table, table, out, 0));
  EXPECT_THROW(qkv_norm_rope(qkv, w, w, 1e-6, 1e-6, table, table, out, 1), Error);                 // rows past the end
  EXPECT_THROW(qkv_norm_rope(qkv, w, w, 1e-6, 1e-6, table.to(at::kBFloat16), table, out, 0), Error);  // bf16 table
  EXPECT_THROW(qkv_norm_rope(qkv.cpu(), w, w, 1e-6, 1e-6, table, table, out, 0), Error);            // CPU input
  EXPECT_TRUE(fused_kernels_for(qkv));
  EXPECT_FALSE(fused_kernels_for(qkv.cpu()));
  EXPECT_TRUE(qkv_norm_rope_supports(qkv, 8));
  EXPECT_FALSE(qkv_norm_rope_supports(qkv, 7));                                      // odd head size
  EXPECT_FALSE(qkv_norm_rope_supports(qkv.view(-1).narrow(0, 1, 47).view({1, 1, 47}), 8));  // misaligned
}

}  // namespace
}  // namespace pardit::kernels
