// The whole Flux forward on the GPU, where the fused kernels run (q/k/v preparation, gated
// residual + norm, and each block's last residual fused with the next block's norm), against the
// same model's LibTorch path on the CPU, in float32: any slip in how the fused pieces are put
// together shows far above float32 rounding.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "kernel_test.hpp"
#include "pardit/kernels/common.hpp"
#include "pardit/model/attention.hpp"
#include "pardit/model/flux.hpp"
#include "pardit/model/rope.hpp"
#include "pardit/model/weights.hpp"

namespace pardit::kernels {
namespace {

using model::FluxTransformer;

class FluxForward : public KernelTest<int64_t> {};  // parameter: batch

model::FluxInputs inputs(const model::FluxConfig& c, int64_t batch, at::Device device) {
  const int64_t rows = 8, cols = 6, text = 16;  // packed image tokens: rows x cols (2x2 latent patches)
  at::manual_seed(11);
  model::FluxInputs in;
  in.hidden_states = at::randn({batch, rows * cols, c.in_channels}).to(device);
  in.encoder_hidden_states = at::randn({batch, text, c.joint_attention_dim}).to(device);
  in.pooled_projections = at::randn({batch, c.pooled_projection_dim}).to(device);
  in.timestep = at::linspace(0.3, 0.9, batch).to(device);
  if (c.guidance_embeds) in.guidance = at::full({batch}, 3.5).to(device);
  const at::Tensor ids = at::cat({model::text_position_ids(text), model::image_position_ids(2 * rows, 2 * cols)});
  in.rope = model::rotary_table(ids.to(device), c.axes_dims_rope, c.rope_theta);
  return in;
}

TEST_P(FluxForward, GpuWithFusedKernelsMatchesCpu) {
  const int64_t batch = GetParam();
  FluxTransformer cpu(model::builtin_model_config("flux-tiny"));
  model::init_random(cpu, 3, at::kFloat, at::kCPU);
  std::map<std::string, at::Tensor> weights;
  cpu.visit([&](const std::string& name, at::Tensor& p, const std::vector<int64_t>&) { weights[name] = p; });
  FluxTransformer gpu(model::builtin_model_config("flux-tiny"));
  model::bind_weights(gpu, weights, at::kFloat, at::kCUDA);

  model::LocalAttention attention;
  const at::Tensor want = cpu.forward(inputs(cpu.config(), batch, at::kCPU), attention);
  const model::FluxInputs in = inputs(gpu.config(), batch, at::kCUDA);
  ASSERT_TRUE(fused_kernels_for(in.hidden_states)) << "the fused kernels are off (PARDIT_FUSED_KERNELS=0?)";
  const at::Tensor got = gpu.forward(in, attention).cpu();

  const double scale = want.abs().max().item<double>();
  ASSERT_GT(scale, 0.1) << "degenerate output";
  EXPECT_LE((got - want).abs().max().item<double>(), 2e-4 * scale);
  // q/k/v weights in head groups (Ulysses' order, FluxTransformer::group_heads): the kernel reads
  // the grouped projection.
  FluxTransformer grouped(model::builtin_model_config("flux-tiny"));
  model::bind_weights(grouped, weights, at::kFloat, at::kCUDA);
  grouped.group_heads(2);
  EXPECT_LE((grouped.forward(in, attention).cpu() - want).abs().max().item<double>(), 2e-4 * scale);
  // The check has teeth: one weight changed on the GPU moves the output far beyond the bound.
  gpu.visit([](const std::string& name, at::Tensor& p, const std::vector<int64_t>&) {
    if (name == "single_transformer_blocks.3.norm.linear.bias") p.add_(0.05);
  });
  EXPECT_GT((gpu.forward(in, attention).cpu() - want).abs().max().item<double>(), 1e-2 * scale);
}

INSTANTIATE_TEST_SUITE_P(Batches, FluxForward, ::testing::Values<int64_t>(1, 2));

}  // namespace
}  // namespace pardit::kernels
