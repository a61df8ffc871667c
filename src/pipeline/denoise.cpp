#include "pardit/pipeline/denoise.hpp"

#include <ATen/ATen.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <fmt/ranges.h>

#include <chrono>

#include "pardit/common/error.hpp"

namespace pardit::pipeline {

ModelPredictor::ModelPredictor(const model::FluxTransformer& model, model::AttentionStrategy& attention,
                               const LatentShape& shape, int64_t text_tokens)
    : model_(model), attention_(attention) {
  at::Tensor ids = at::cat({model::text_position_ids(text_tokens), model::image_position_ids(shape.height, shape.width)});
  const auto& c = model.config();
  rope_ = model::rotary_table(ids.to(model.device()), c.axes_dims_rope, c.rope_theta);
}

void ModelPredictor::begin_request(const RequestPlan& plan) {
  modulation_.begin(model_, plan, plan.true_cfg() ? std::vector<int>{0, 1} : std::vector<int>{0});
}

at::Tensor ModelPredictor::forward(const StepInputs& in, const at::Tensor& prompt_embeds, const at::Tensor& pooled,
                                   int branch) {
  model::FluxInputs fi{in.latents, prompt_embeds, pooled, in.timestep, in.guidance, rope_};
  modulation_.select(fi, in.step, branch);
  return model_.forward(fi, attention_).to(at::kFloat);
}

at::Tensor ModelPredictor::predict(const StepInputs& in) {
  const Conditioning& c = *in.conditioning;
  at::Tensor pos = forward(in, c.prompt_embeds, c.pooled_prompt_embeds, 0);
  if (in.true_cfg_scale <= 1.0) return pos;
  PARDIT_CHECK(c.has_negative(), "true CFG needs negative prompt embeddings");
  at::Tensor neg = forward(in, c.negative_prompt_embeds, c.negative_pooled_prompt_embeds, 1);
  return combine_true_cfg(pos, neg, in.true_cfg_scale);
}

at::Tensor combine_true_cfg(const at::Tensor& positive, const at::Tensor& negative, double scale) {
  return negative + scale * (positive - negative);
}

void synchronize_device(at::Device device) {
  if (device.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(device.index());
}

DenoiseResult denoise(NoisePredictor& predictor, const Conditioning& conditioning, const at::Tensor& noise,
                      const SamplingOptions& options, bool guidance_embeds, at::Device device,
                      const StepCallback& on_step) {
  const LatentShape shape = LatentShape::for_image(options.height, options.width, noise.size(1));
  PARDIT_CHECK(noise.dim() == 4 && noise.size(2) == shape.height && noise.size(3) == shape.width,
               "noise shape [{}] does not match the image", fmt::join(noise.sizes(), ", "));
  const FlowMatchSchedule schedule = flow_match_schedule(options.steps, shape.tokens());
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);

  Conditioning on_device{conditioning.prompt_embeds.to(device), conditioning.pooled_prompt_embeds.to(device), {}, {}};
  if (options.true_cfg()) {
    PARDIT_INPUT_CHECK(conditioning.has_negative(),
                       "true_cfg_scale={} needs negative prompt embeddings: add /negative_prompt_embeds and "
                       "/negative_pooled_prompt_embeds to the prompt file, or set true_cfg_scale to 1",
                       options.true_cfg_scale);
    on_device.negative_prompt_embeds = conditioning.negative_prompt_embeds.to(device);
    on_device.negative_pooled_prompt_embeds = conditioning.negative_pooled_prompt_embeds.to(device);
  }

  StepInputs in;
  in.latents = pack_latents(noise.to(at::kFloat)).to(device);
  in.conditioning = &on_device;
  in.true_cfg_scale = options.true_cfg() ? options.true_cfg_scale : 1.0;
  if (guidance_embeds) in.guidance = at::full({1}, options.guidance, f32);

  // FluxPipeline feeds t / 1000 with t = sigma * 1000 in float32 (not exactly sigma).
  RequestPlan plan;
  plan.timesteps = at::tensor(schedule.timesteps, at::kFloat).to(device) / 1000;
  plan.guidance = in.guidance;
  plan.conditioning = &on_device;
  plan.true_cfg_scale = in.true_cfg_scale;
  plan.modulation_table = options.modulation_table;

  DenoiseResult result;
  // The request's own work (the modulation table) counts as part of step 0.
  auto start = std::chrono::steady_clock::now();
  predictor.begin_request(plan);
  for (int64_t i = 0; i < schedule.steps(); ++i) {
    if (i > 0) start = std::chrono::steady_clock::now();
    in.step = i;
    in.timestep = plan.timesteps.narrow(0, i, 1);
    at::Tensor noise_pred = predictor.predict(in);
    const float dt = schedule.sigmas[i + 1] - schedule.sigmas[i];
    in.latents = in.latents + dt * noise_pred;
    result.step_host_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    synchronize_device(device);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.step_seconds.push_back(seconds);
    if (on_step) on_step(i, seconds);
  }
  result.latents = unpack_latents(in.latents, shape).to(at::kCPU);
  return result;
}

}  // namespace pardit::pipeline
