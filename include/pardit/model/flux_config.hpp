// Architecture hyper-parameters of a Flux transformer (diffusers' FluxTransformer2DModel config).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace pardit::model {

struct FluxConfig {
  std::string name = "flux-dev";
  int64_t patch_size = 1;
  int64_t in_channels = 64;   // packed latent channels: 16 VAE channels x 2x2 patch
  int64_t out_channels = 64;
  int64_t num_layers = 19;          // double-stream blocks
  int64_t num_single_layers = 38;   // single-stream blocks
  int64_t attention_head_dim = 128;
  int64_t num_attention_heads = 24;
  int64_t joint_attention_dim = 4096;    // T5 embedding width
  int64_t pooled_projection_dim = 768;   // CLIP pooled width
  bool guidance_embeds = true;           // dev: embedded guidance; schnell: none
  std::array<int64_t, 3> axes_dims_rope = {16, 56, 56};
  double rope_theta = 10000.0;
  int64_t text_tokens = 512;  // default T5 sequence length for synthetic prompts

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  int64_t latent_channels() const { return in_channels / 4; }
  int64_t num_blocks() const { return num_layers + num_single_layers; }
  // Throws InputError naming the inconsistent field.
  void validate() const;
};

// Built-in configs: flux-dev, flux-schnell, flux-tiny (CPU tests and the demo).
std::vector<std::string> builtin_model_names();
// `name_or_file`: a built-in name, a TOML model file (configs/models/*.toml) or a diffusers
// config.json. Unknown names throw InputError listing the built-in names.
FluxConfig load_model_config(const std::string& name_or_file);
FluxConfig builtin_model_config(const std::string& name);
FluxConfig model_config_from_toml_file(const std::filesystem::path& file);
FluxConfig model_config_from_diffusers_json(const std::filesystem::path& file);

}  // namespace pardit::model
