// The parallel layout of a job and its validation (before any model work).
#pragma once

#include <cstdint>
#include <string>

#include "pardit/common/error.hpp"

namespace pardit::runtime {

// Degrees of the five mesh axes, outer -> inner: dp, cfg, pipefusion, ring, ulysses.
// Their product must equal the world size.
struct ParallelConfig {
  int dp = 1;
  int cfg = 1;
  int pipefusion = 1;
  int ring = 1;
  int ulysses = 1;
  int num_pipeline_patches = 0;  // 0: = pipefusion
  int warmup_steps = 1;

  int world_size() const { return dp * cfg * pipefusion * ring * ulysses; }
  int patches() const { return num_pipeline_patches > 0 ? num_pipeline_patches : pipefusion; }
  std::string str() const;  // "dp1 cfg1 pf2 ring2 u2"
  std::string mesh_name() const;  // short name for results: "1", "u2", "u2r2", "cfg2", "pf2"
};

// What validation needs from the model and the image.
struct ModelShape {
  int num_heads = 24;
  int num_layers_total = 57;    // double + single stream blocks
  int64_t text_tokens = 512;
  int64_t image_tokens = 4096;  // (H/16) * (W/16)
  int64_t latent_rows = 64;     // H/16: rows of the packed latent, cut into pipeline patches
  int cfg_max = 2;              // 2 with true CFG (negative prompt), 1 otherwise
  int hidden_size = 3072;       // for traffic estimates only

  // Flux-dev at H x W pixels.
  static ModelShape flux_dev(int height = 1024, int width = 1024);
};

// Throws InputError listing every violation and, per violated degree, the valid values, e.g.
//   "ulysses=5 does not divide 24 heads; valid: 1,2,3,4,6,8,12,24"
//   "dp*cfg*pipefusion*ring*ulysses = 6 but the job has 4 ranks"
void validate(const ParallelConfig& config, int world_size, const ModelShape& model);

}  // namespace pardit::runtime
