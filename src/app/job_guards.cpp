#include "job_guards.hpp"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "pardit/common/error.hpp"

namespace pardit::app {

at::Tensor FiniteCheckingPredictor::predict(const pipeline::StepInputs& in) {
  at::Tensor pred = inner_.predict(in);
  ++step_;
  // One scalar: a single NaN/Inf anywhere makes the sum non-finite (so does a sum past 3e38,
  // which only latents already far off the scale reach). Read by check_step().
  finite_ = at::isfinite(in.latents.sum() + pred.sum());
  input_ = in.latents;
  return pred;
}

void FiniteCheckingPredictor::check_step() {
  if (!finite_.defined()) return;
  const at::Tensor flag = std::exchange(finite_, at::Tensor());
  const at::Tensor input = std::exchange(input_, at::Tensor());
  const int64_t step = step_ - 1;
  if (!flag.item<bool>()) {
    const bool input_ok = at::isfinite(input).all().item<bool>();
    PARDIT_CHECK(false,
                 "prompt {} (seed {}): NaN/Inf in the {} at step {}/{} (dtype {}, {}x{}): {}", prompt_,
                 config_.seed + static_cast<uint64_t>(prompt_), input_ok ? "noise prediction" : "input latents",
                 step + 1, config_.steps, config_.dtype, config_.height, config_.width,
                 config_.dtype == "fp16" ? "fp16 overflows in Flux's activations; use --dtype bf16 or fp32"
                 : step == 0 && !input_ok ? "the initial noise is not finite: check /initial_noise of the prompt file"
                                          : "check the weights (--weights) and the prompt embeddings, or try --dtype fp32");
  }
}

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) return true;
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return true;
  const std::string what = e.what();
  return dynamic_cast<const c10::Error*>(&e) != nullptr &&
         (what.find("not enough memory") != std::string::npos || what.find("out of memory") != std::string::npos ||
          what.find("can't allocate memory") != std::string::npos);  // CPU: DefaultCPUAllocator
}

std::string out_of_memory_message(const std::exception& e, const io::RunConfig& c, int world_rank,
                                  const std::string& device, const std::string& phase) {
  std::string what = e.what();
  if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);  // LibTorch appends a backtrace
  return fmt::format(
      "out of memory on rank {} ({}) while {}: {}. The job needs less memory per rank: a smaller image "
      "(--height {} --width {} now), more sequence-parallel ranks per image (--ulysses-degree {} / "
      "--ring-degree {} / --pipefusion-degree {} now; each splits the activations), or {}",
      world_rank, device, phase, what, c.height, c.width, c.ulysses_degree, c.ring_degree, c.pipefusion_degree,
      c.dtype == "fp32" ? "--dtype bf16 (half the memory of fp32 weights and activations)"
                        : "more GPUs per image (--dtype is already " + c.dtype + ")");
}

double test_step_delay_seconds() {
  const char* v = std::getenv("PARDIT_TEST_STEP_DELAY_S");
  return v ? std::atof(v) : 0.0;
}

}  // namespace pardit::app
