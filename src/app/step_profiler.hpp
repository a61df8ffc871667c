// A Kineto trace (host ops and GPU kernels, NCCL's included) of one denoising step, for finding
// where a step's time goes. Internal to src/app; see docs/performance.md.
#pragma once

#include <cstdint>
#include <string>

namespace pardit::app {

// PARDIT_PROFILE=PREFIX turns it on: every rank writes PREFIX.rank<R>.json (Chrome trace format:
// Perfetto, chrome://tracing, or perf/profile_summary.py) of step PARDIT_PROFILE_STEP (0-based,
// default 3: after warm-up) of the first prompt it runs. Off (no cost) when PARDIT_PROFILE is unset.
class StepProfiler {
 public:
  // Throws InputError for a step outside [1, steps) or an unwritable PREFIX (checked before any work).
  StepProfiler(int world_rank, int64_t steps);
  ~StepProfiler();
  StepProfiler(const StepProfiler&) = delete;
  StepProfiler& operator=(const StepProfiler&) = delete;

  // Call at every step boundary (after the device finished the step): starts the trace before
  // the chosen step and writes it after that step.
  void step_finished(int64_t step);

 private:
  std::string path_;  // empty: off
  int64_t step_ = 3;
  bool recording_ = false;
};

}  // namespace pardit::app
