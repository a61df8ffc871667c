#include "step_profiler.hpp"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>

#include "pardit/common/env.hpp"
#include "pardit/common/error.hpp"
#include "pardit/common/log.hpp"

namespace pardit::app {
namespace {

namespace kineto = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

// PARDIT_PROFILE_HOST=0: GPU activity only, no host operations (and no input shapes), so that the
// profiler does not slow the host: a rank that issues ~1000 kernels a step can otherwise fall
// behind its GPU under it, and the trace's idle time is then the profiler's, not the run's.
bool host_ops() { return !env_is("PARDIT_PROFILE_HOST", "0"); }

std::set<ActivityType> activities() {
  std::set<ActivityType> a;
  if (host_ops()) a.insert(ActivityType::CPU);
#ifdef PARDIT_HAVE_CUDA
  a.insert(ActivityType::CUDA);
#endif
  if (a.empty()) a.insert(ActivityType::CPU);  // a CPU build has no GPU activity to keep
  return a;
}

}  // namespace

StepProfiler::StepProfiler(int world_rank, int64_t steps) {
  const char* prefix = std::getenv("PARDIT_PROFILE");
  if (!prefix || !*prefix) return;
  if (const char* text = std::getenv("PARDIT_PROFILE_STEP")) {
    char* end = nullptr;
    step_ = std::strtoll(text, &end, 10);
    PARDIT_INPUT_CHECK(end != text && *end == '\0' && step_ >= 1 && step_ < steps,
                       "PARDIT_PROFILE_STEP={} is not a step after the first of this {}-step job: give one of 1..{} "
                       "(0-based; the first step is warm-up)",
                       text, steps, steps - 1);
  } else if (step_ >= steps) {
    step_ = steps - 1;
  }
  PARDIT_INPUT_CHECK(steps >= 2, "PARDIT_PROFILE needs at least 2 steps (the first is warm-up); this job has {}",
                     steps);
  path_ = std::string(prefix) + ".rank" + std::to_string(world_rank) + ".json";
  // Fail now, not after the step: the trace's folder must exist and be writable.
  std::FILE* f = std::fopen(path_.c_str(), "w");
  PARDIT_INPUT_CHECK(f != nullptr, "PARDIT_PROFILE={}: cannot write {}: create its folder or choose another prefix",
                     prefix, path_);
  std::fclose(f);
  log::info("profiling step {} of the first prompt into {}", step_, path_);
}

StepProfiler::~StepProfiler() {
  if (!recording_) return;
  try {
    kineto::disableProfiler();  // the job ended inside the traced step: no trace
  } catch (const std::exception&) {
  }
}

void StepProfiler::step_finished(int64_t step) {
  if (path_.empty()) return;
  // A trace is a diagnostic: if the profiler fails, say so and let the job go on untraced.
  try {
    if (!recording_ && step + 1 == step_) {
      const ProfilerConfig config(ProfilerState::KINETO, /*report_input_shapes=*/host_ops());
      kineto::prepareProfiler(config, activities());
      kineto::enableProfiler(config, activities());
      recording_ = true;
    } else if (recording_ && step == step_) {
      recording_ = false;
      kineto::disableProfiler()->save(path_);
      log::info("step {} trace written: {}", step, path_);
      path_.clear();  // one step of the first prompt only
    }
  } catch (const std::exception& e) {
    log::warn("PARDIT_PROFILE: no trace ({}); the job goes on", e.what());
    path_.clear();
    if (recording_) {
      recording_ = false;
      try {
        kineto::disableProfiler();
      } catch (const std::exception&) {
      }
    }
  }
}

}  // namespace pardit::app
