// Prompt-embedding input (HDF5, DESIGN.md §5): text-encoder outputs computed elsewhere
// (e.g. by diffusers), so pardit runs no text encoder itself.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace pardit::io {

// What the model and the requested image expect of a prompt file.
struct PromptFileShape {
  int64_t joint_attention_dim;    // last dim of /prompt_embeds (4096 for Flux)
  int64_t pooled_projection_dim;  // last dim of /pooled_prompt_embeds (768 for Flux)
  int64_t latent_channels = 16;
  int64_t latent_height;          // image height / 8
  int64_t latent_width;           // image width / 8
};

struct PromptSet {
  at::Tensor prompt_embeds;                  // f32 [P, L, joint_attention_dim]
  at::Tensor pooled_prompt_embeds;           // f32 [P, pooled_projection_dim]
  at::Tensor negative_prompt_embeds;         // f32 [P, L', joint]; undefined when absent
  at::Tensor negative_pooled_prompt_embeds;  // f32 [P, pooled]; undefined when absent
  at::Tensor initial_noise;                  // f32 [P, C, h, w]; undefined when absent
  std::vector<std::string> prompts;          // empty when absent
  int64_t size() const;                      // P
};

// Reads and validates against `expect`: the file is HDF5; /prompt_embeds and
// /pooled_prompt_embeds exist; P >= 1 and agrees across datasets; last dims match the model;
// negatives come as a pair shaped like the positives; initial_noise matches the image.
// Any floating dtype is accepted and converted to float32. Throws InputError.
PromptSet read_prompt_file(const std::filesystem::path& file, const PromptFileShape& expect);

// Writes the datasets that are defined/non-empty as float32 (used by tests and tools).
void write_prompt_file(const std::filesystem::path& file, const PromptSet& prompts);

}  // namespace pardit::io
