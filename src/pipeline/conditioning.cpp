#include "pardit/pipeline/conditioning.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace pardit::pipeline {

Conditioning synthetic_conditioning(uint64_t seed, int64_t index, int64_t text_tokens, int64_t joint_dim,
                                    int64_t pooled_dim, bool negative) {
  // A stream per prompt, apart from the noise seeds (seed + index) by a large odd offset.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed * 7919ULL + 0x9E3779B97F4A7C15ULL + index);
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  Conditioning c;
  c.prompt_embeds = at::randn({1, text_tokens, joint_dim}, gen, f32);
  c.pooled_prompt_embeds = at::randn({1, pooled_dim}, gen, f32);
  if (negative) {
    c.negative_prompt_embeds = at::randn({1, text_tokens, joint_dim}, gen, f32);
    c.negative_pooled_prompt_embeds = at::randn({1, pooled_dim}, gen, f32);
  }
  return c;
}

}  // namespace pardit::pipeline
