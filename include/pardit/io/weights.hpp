// Finds and loads model weights the way users hand them over: one safetensors file, a sharded
// diffusers checkpoint (an index.json naming the shard of every tensor), a diffusers model
// folder, or a whole pipeline folder whose transformer/ subfolder holds the model.
#pragma once

#include "pardit/io/safetensors.hpp"

#include <filesystem>
#include <optional>
#include <vector>

namespace pardit::io {

struct WeightSource {
  TensorMap tensors;                                  // diffusers names -> mmapped CPU tensors
  std::optional<std::filesystem::path> config_json;  // diffusers config.json next to the weights
  std::vector<std::filesystem::path> files;          // every safetensors file read, in order
};

// `path` may be:
//  - a .safetensors file;
//  - a diffusers `*.safetensors.index.json` (weight_map: name -> shard file): every shard is
//    read; a missing shard or a name absent from its shard is an InputError;
//  - a folder holding diffusion_pytorch_model.safetensors or
//    diffusion_pytorch_model.safetensors.index.json, or a pipeline folder with transformer/.
// config_json is the folder's config.json when present. Anything else is an InputError that
// says what was expected.
WeightSource load_weights(const std::filesystem::path& path);

}  // namespace pardit::io
