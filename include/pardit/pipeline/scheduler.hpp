// Flow-match Euler sampling with Flux's resolution-dependent shift, as diffusers'
// FluxPipeline + FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True) compute it.
#pragma once

#include <cstdint>
#include <vector>

namespace pardit::pipeline {

struct FlowMatchShift {  // the Flux scheduler config
  int64_t base_image_seq_len = 256;
  int64_t max_image_seq_len = 4096;
  double base_shift = 0.5;
  double max_shift = 1.15;
  // Linear interpolation of mu in the packed image sequence length (FluxPipeline calculate_shift).
  double mu(int64_t image_seq_len) const;
};

struct FlowMatchSchedule {
  std::vector<float> sigmas;     // steps + 1 values, 1 -> 0, the last is 0
  std::vector<float> timesteps;  // steps values, sigma * 1000 (what the pipeline feeds, / 1000)
  int64_t steps() const { return static_cast<int64_t>(timesteps.size()); }
};

// sigmas = linspace(1, 1/steps, steps) shifted by exp(mu) / (exp(mu) + (1/sigma - 1)), float32
// arithmetic as in diffusers, with a final 0 appended.
FlowMatchSchedule flow_match_schedule(int64_t steps, int64_t image_seq_len, const FlowMatchShift& shift = {});

}  // namespace pardit::pipeline
