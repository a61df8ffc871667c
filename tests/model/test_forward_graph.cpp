// ForwardGraph (CUDA graphs of the transformer forward) against the eager forward on a GPU:
// equal outputs for the eager first call, the capturing second call and replays with new
// inputs, and a new capture when the shapes change.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "pardit/model/forward_graph.hpp"
#include "pardit/model/weights.hpp"

namespace pardit::model {
namespace {

FluxInputs inputs(const FluxConfig& c, int64_t image_tokens, int seed) {
  at::manual_seed(seed);
  auto gpu = at::TensorOptions().device(at::kCUDA);
  at::Tensor ids = at::cat({text_position_ids(c.text_tokens), image_position_ids(2, 2 * image_tokens)});
  return FluxInputs{at::randn({1, image_tokens, c.in_channels}, gpu),
                    at::randn({1, c.text_tokens, c.joint_attention_dim}, gpu),
                    at::randn({1, c.pooled_projection_dim}, gpu),
                    at::rand({1}, gpu),
                    at::full({1}, 3.5, gpu),
                    rotary_table(ids.cuda(), c.axes_dims_rope, c.rope_theta)};
}

TEST(ForwardGraph, ReplaysEqualEagerForwards) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  FluxConfig c = builtin_model_config("flux-tiny");
  c.text_tokens = 8;
  FluxTransformer model(c);
  init_random(model, 5, at::kBFloat16, at::kCUDA);
  LocalAttention attention;
  ForwardGraph graph;
  // Calls 1 (eager), 2 (eager on a side stream + capture), 3-4 (replays); then a new shape.
  for (auto [tokens, seed] : {std::pair{12, 1}, {12, 2}, {12, 3}, {12, 4}, {20, 5}, {20, 6}, {20, 7}}) {
    FluxInputs in = inputs(c, tokens, seed);
    at::Tensor expected = model.forward(in, attention);
    at::Tensor got = graph.forward(model, in, attention);
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(at::allclose(got.to(at::kFloat), expected.to(at::kFloat), 1e-3, 1e-3))
        << "tokens " << tokens << " seed " << seed << ": max |diff| "
        << (got.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<double>();
  }
}

}  // namespace
}  // namespace pardit::model
