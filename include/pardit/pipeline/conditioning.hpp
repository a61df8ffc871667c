// Synthetic conditioning for runs without a prompt file (benchmarks, tests, the default job).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "pardit/pipeline/denoise.hpp"

namespace pardit::pipeline {

// Seeded standard-normal embeddings for prompt `index` (CPU float32, batch 1), the same on
// every rank: prompt_embeds [1, text_tokens, joint_dim], pooled [1, pooled_dim]; negatives
// too when `negative` (true CFG).
Conditioning synthetic_conditioning(uint64_t seed, int64_t index, int64_t text_tokens, int64_t joint_dim,
                                    int64_t pooled_dim, bool negative);

}  // namespace pardit::pipeline
