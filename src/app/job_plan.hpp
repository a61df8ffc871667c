// What `pardit run` decided before any expensive work: the architecture, the parallel layout,
// the prompts. Internal to src/app.
#pragma once

#include <string>

#include "pardit/io/prompt_file.hpp"
#include "pardit/io/run_config.hpp"
#include "pardit/model/flux_config.hpp"
#include "pardit/pipeline/latents.hpp"
#include "pardit/runtime/parallel_config.hpp"

namespace pardit::app {

struct JobPlan {
  model::FluxConfig model;
  std::string model_source;  // where the architecture came from
  runtime::ParallelConfig parallel;
  pipeline::LatentShape latent_shape;
  io::PromptSet prompts;      // file prompts; empty tensors when synthetic
  bool synthetic = true;
  int64_t num_prompts = 0;
  int64_t text_tokens = 0;
};

// Everything checkable without weights or communication: config, model architecture, parallel
// degrees, prompt file. Same result on every rank.
JobPlan plan_job(const io::RunConfig& config, int world_size);

}  // namespace pardit::app
