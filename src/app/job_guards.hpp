// What guards a running job against bad numbers and full memory, and the test hook that slows
// steps down. Internal to src/app; see docs/reliability.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <exception>
#include <string>

#include "pardit/io/run_config.hpp"
#include "pardit/pipeline/denoise.hpp"

namespace pardit::app {

// Wraps the job's predictor: every noise prediction queues, on the device, one finite flag (of
// the sum of the step's input latents and of the prediction; NaN/Inf anywhere makes it
// non-finite); check_step() reads it at the step boundary, after the denoise loop has waited for
// the device anyway, and stops the prompt at the first bad step with the prompt, the step and
// what to change. No host synchronisation inside a step. Every rank of a replica holds the same
// prediction, so all of them stop at the same step.
class FiniteCheckingPredictor final : public pipeline::NoisePredictor {
 public:
  FiniteCheckingPredictor(pipeline::NoisePredictor& inner, const io::RunConfig& config)
      : inner_(inner), config_(config) {}
  void set_prompt(int64_t prompt) { prompt_ = prompt; }
  void begin_request(const pipeline::RequestPlan& plan) override {
    step_ = 0;
    finite_ = input_ = at::Tensor();
    inner_.begin_request(plan);
  }
  at::Tensor predict(const pipeline::StepInputs& in) override;
  // Throws if the last prediction's flag says NaN/Inf. Call at the step boundary.
  void check_step();

 private:
  pipeline::NoisePredictor& inner_;
  const io::RunConfig& config_;
  int64_t prompt_ = -1, step_ = 0;
  at::Tensor finite_, input_;  // the last step's flag and input latents, until check_step()
};

// Out of device (or host) memory, as thrown by LibTorch's allocators: c10::OutOfMemoryError
// (CUDA caching allocator) or the CPU allocator's "not enough memory".
bool is_out_of_memory(const std::exception& e);
// The message for an out-of-memory failure: which rank and device, the job's size, and what to
// change (smaller image, more Ulysses/Ring/PipeFusion ranks, bf16).
std::string out_of_memory_message(const std::exception& e, const io::RunConfig& config, int world_rank,
                                  const std::string& device, const std::string& phase);

// Test hook: PARDIT_TEST_STEP_DELAY_S=<seconds> sleeps that long at every step boundary, so that a
// test's signal reliably lands mid-run. 0 (unset) in production.
double test_step_delay_seconds();

}  // namespace pardit::app
