// The denoise loop for one request: seeded noise -> flow-match Euler steps -> latents.
//
// How a noise prediction is computed (one rank, sequence-sharded, CFG-split, pipelined) is the
// NoisePredictor's business; the loop is the same for every parallel layout, which is what
// makes every exact method match the single-rank result.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

#include "pardit/model/attention.hpp"
#include "pardit/model/flux.hpp"
#include "pardit/pipeline/latents.hpp"
#include "pardit/pipeline/scheduler.hpp"

namespace pardit::pipeline {

// Text conditioning of one prompt (CPU float32 tensors, batch 1).
struct Conditioning {
  at::Tensor prompt_embeds;                  // [1, L, joint_attention_dim]
  at::Tensor pooled_prompt_embeds;           // [1, pooled_projection_dim]
  at::Tensor negative_prompt_embeds;         // true CFG only, else undefined
  at::Tensor negative_pooled_prompt_embeds;  // true CFG only, else undefined
  bool has_negative() const { return negative_prompt_embeds.defined(); }
};

struct SamplingOptions {
  int64_t height = 1024, width = 1024, steps = 28;
  double guidance = 3.5;        // embedded guidance (flux-dev)
  double true_cfg_scale = 1.0;  // > 1 with negative embeddings: true classifier-free guidance
  bool true_cfg() const { return true_cfg_scale > 1.0; }
};

// One step's inputs to the transformer, identical on every rank.
struct StepInputs {
  at::Tensor latents;   // [1, S_img, in_channels] float32 on the compute device
  at::Tensor timestep;  // [1] float32, sigma (t / 1000)
  at::Tensor guidance;  // [1] float32 or undefined (model without guidance embedding)
  const Conditioning* conditioning = nullptr;  // embeddings already on the compute device
  double true_cfg_scale = 1.0;
};

class NoisePredictor {
 public:
  virtual ~NoisePredictor() = default;
  // Guided noise prediction [1, S_img, out_channels] float32 for the whole image, the same on
  // every rank that takes part. Collective over the predictor's ranks.
  virtual at::Tensor predict(const StepInputs& in) = 0;
  // Called before the first step of every request (PipeFusion counts its warm-up steps from here).
  virtual void begin_request() {}
};

// The whole model on this rank's tokens with an injected attention strategy; true CFG as two
// passes (conditional, then unconditional) when asked for.
class ModelPredictor final : public NoisePredictor {
 public:
  ModelPredictor(const model::FluxTransformer& model, model::AttentionStrategy& attention, const LatentShape& shape,
                 int64_t text_tokens);
  at::Tensor predict(const StepInputs& in) override;
  // One pass of the transformer for one set of embeddings.
  at::Tensor forward(const StepInputs& in, const at::Tensor& prompt_embeds, const at::Tensor& pooled);

 private:
  const model::FluxTransformer& model_;
  model::AttentionStrategy& attention_;
  model::RotaryTable rope_;  // [txt ; img] rows
};

// Guidance formula of FluxPipeline's true CFG: neg + scale * (pos - neg).
at::Tensor combine_true_cfg(const at::Tensor& positive, const at::Tensor& negative, double scale);

struct DenoiseResult {
  at::Tensor latents;                // [1, C, h, w] float32, CPU, unpacked
  std::vector<double> step_seconds;  // wall time of each step, device work included
  // Host time to issue each step's work, before waiting for the device: close to step_seconds
  // when the run is bound by kernel launches rather than by the GPU.
  std::vector<double> step_host_seconds;
};

// Called after each step with (step index, seconds of that step); may throw to stop.
using StepCallback = std::function<void(int64_t step, double seconds)>;

// `noise`: [1, C, h, w] float32 (seeded or from the prompt file). Latents stay float32
// between steps (diffusers rounds them to the model dtype; identical in fp32).
DenoiseResult denoise(NoisePredictor& predictor, const Conditioning& conditioning, const at::Tensor& noise,
                      const SamplingOptions& options, bool guidance_embeds, at::Device device,
                      const StepCallback& on_step = {});

// Waits for the device's queued work (CPU: nothing). For timing at step boundaries only.
void synchronize_device(at::Device device);

}  // namespace pardit::pipeline
