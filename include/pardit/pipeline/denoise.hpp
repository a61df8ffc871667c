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
#include "pardit/pipeline/request_modulation.hpp"
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
  // Every AdaLN modulation of the request computed before the first step (model::ModulationTable);
  // false: at every step, as before (PARDIT_MODULATION_TABLE=0 makes that the default).
  bool modulation_table = model::modulation_table_enabled();
  bool true_cfg() const { return true_cfg_scale > 1.0; }
};

// What the steps of one request will feed the predictor, known before the first step: lets a
// predictor do per-request work once (the AdaLN modulation table, [Note: modulation table]).
struct RequestPlan {
  at::Tensor timesteps;  // [steps] float32 on the device: step i's StepInputs::timestep is row i
  at::Tensor guidance;   // [1] float32 or undefined, as StepInputs::guidance
  const Conditioning* conditioning = nullptr;  // what every step's StepInputs::conditioning points to
  double true_cfg_scale = 1.0;                 // as StepInputs::true_cfg_scale
  bool modulation_table = true;                // SamplingOptions::modulation_table
  // A table larger than this is not built: the request computes its modulations per step, as with
  // modulation_table false (Flux-dev: about 57 MiB per 28 steps and branch in bf16, so only runs of
  // thousands of steps or large batches reach the default).
  int64_t modulation_table_max_bytes = int64_t{4} << 30;
  int64_t steps() const { return timesteps.size(0); }
  bool true_cfg() const { return true_cfg_scale > 1.0; }
};

// One step's inputs to the transformer, identical on every rank.
struct StepInputs {
  int64_t step = 0;     // index of the step in the request (RequestPlan::timesteps); with a modulation
                        // table it, not `timestep`, picks the step's modulation rows
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
  // Called before the first step of every request, with what its steps will bring (predictors
  // build the request's modulation table here). Every rank of the predictor calls it.
  virtual void begin_request(const RequestPlan& plan) = 0;
};

// The whole model on this rank's tokens with an injected attention strategy; true CFG as two
// passes (conditional, then unconditional) when asked for.
class ModelPredictor final : public NoisePredictor {
 public:
  ModelPredictor(const model::FluxTransformer& model, model::AttentionStrategy& attention, const LatentShape& shape,
                 int64_t text_tokens);
  void begin_request(const RequestPlan& plan) override;
  at::Tensor predict(const StepInputs& in) override;
  // One pass of the transformer for one set of embeddings (branch 0: the prompt, 1: the negative prompt).
  at::Tensor forward(const StepInputs& in, const at::Tensor& prompt_embeds, const at::Tensor& pooled, int branch);

 private:
  const model::FluxTransformer& model_;
  model::AttentionStrategy& attention_;
  model::RotaryTable rope_;  // [txt ; img] rows
  RequestModulation modulation_;
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
