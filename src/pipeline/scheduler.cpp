#include "pardit/pipeline/scheduler.hpp"

#include <cmath>

#include "pardit/common/error.hpp"

namespace pardit::pipeline {

double FlowMatchShift::mu(int64_t image_seq_len) const {
  const double m = (max_shift - base_shift) / static_cast<double>(max_image_seq_len - base_image_seq_len);
  const double b = base_shift - m * static_cast<double>(base_image_seq_len);
  return static_cast<double>(image_seq_len) * m + b;
}

FlowMatchSchedule flow_match_schedule(int64_t steps, int64_t image_seq_len, const FlowMatchShift& shift) {
  PARDIT_INPUT_CHECK(steps >= 1, "steps={} must be at least 1", steps);
  // diffusers computes exp(mu) in double and then works in float32 (numpy float32 arrays).
  const float exp_mu = static_cast<float>(std::exp(shift.mu(image_seq_len)));
  FlowMatchSchedule s;
  const double first = 1.0, last = 1.0 / static_cast<double>(steps);
  for (int64_t i = 0; i < steps; ++i) {
    // np.linspace in float64: start + i * step, the endpoint exact.
    const double lin = steps == 1 ? first
                       : i == steps - 1 ? last
                                        : first + static_cast<double>(i) * ((last - first) / static_cast<double>(steps - 1));
    const float t = static_cast<float>(lin);
    const float sigma = exp_mu / (exp_mu + (1.0f / t - 1.0f));
    s.sigmas.push_back(sigma);
    s.timesteps.push_back(sigma * 1000.0f);
  }
  s.sigmas.push_back(0.0f);
  return s;
}

}  // namespace pardit::pipeline
