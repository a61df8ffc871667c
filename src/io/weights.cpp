// Resolves a --weights path (file, sharded index, diffusers folder, pipeline folder) into the
// list of safetensors files to map, then maps them.
#include "pardit/io/weights.hpp"

#include "pardit/common/error.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

namespace pardit::io {
namespace fs = std::filesystem;
namespace {
constexpr const char* kSingleFile = "diffusion_pytorch_model.safetensors";
constexpr const char* kIndexFile = "diffusion_pytorch_model.safetensors.index.json";
constexpr const char* kExpected =
    "expected a .safetensors file, a diffusers *.safetensors.index.json, or a diffusers model folder "
    "holding diffusion_pytorch_model.safetensors[.index.json] (or a pipeline folder with transformer/)";

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<fs::path> config_next_to(const fs::path& folder) {
  fs::path config = folder / "config.json";
  std::error_code ec;
  if (fs::is_regular_file(config, ec)) return config;
  return std::nullopt;
}

// Sharded diffusers checkpoint: {"weight_map": {"tensor.name": "shard-00001-of-00003.safetensors"}}.
WeightSource load_index(const fs::path& index) {
  std::ifstream in(index);
  PARDIT_INPUT_CHECK(in.good(), "cannot open weights index {}; check the path and permissions", index.string());
  auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  PARDIT_INPUT_CHECK(!json.is_discarded() && json.is_object(),
                     "weights index {} is not valid JSON; re-download it", index.string());
  auto map_it = json.find("weight_map");
  PARDIT_INPUT_CHECK(map_it != json.end() && map_it->is_object() && !map_it->empty(),
                     "weights index {} has no non-empty 'weight_map' object (tensor name -> shard file); "
                     "re-download it or pass a single .safetensors file",
                     index.string());

  std::map<std::string, std::vector<std::string>> names_by_shard;
  for (const auto& [name, shard] : map_it->items()) {
    PARDIT_INPUT_CHECK(shard.is_string(), "weights index {}: the shard of '{}' is not a file name; re-download it",
                       index.string(), name);
    names_by_shard[shard.get<std::string>()].push_back(name);
  }

  WeightSource source;
  source.config_json = config_next_to(index.parent_path());
  for (const auto& [shard, names] : names_by_shard) {
    fs::path shard_path = index.parent_path() / shard;
    std::error_code ec;
    PARDIT_INPUT_CHECK(fs::is_regular_file(shard_path, ec),
                       "weights index {} names shard {} ({} tensors, e.g. '{}') but that file is missing; "
                       "download every shard listed in the index into {}",
                       index.string(), shard_path.string(), names.size(), names.front(),
                       index.parent_path().string());
    TensorMap shard_tensors = read_safetensors(shard_path);
    for (const auto& name : names) {
      auto it = shard_tensors.find(name);
      PARDIT_INPUT_CHECK(it != shard_tensors.end(),
                         "weights index {} places tensor '{}' in shard {}, but that shard does not contain it; "
                         "the index and the shards are from different checkpoints, re-download them",
                         index.string(), name, shard_path.string());
      source.tensors[name] = it->second;
    }
    source.files.push_back(shard_path);
  }
  return source;
}

WeightSource load_file(const fs::path& file) {
  WeightSource source;
  source.tensors = read_safetensors(file);
  source.files.push_back(file);
  source.config_json = config_next_to(file.parent_path());
  return source;
}

WeightSource load_folder(const fs::path& folder) {
  std::error_code ec;
  if (fs::is_regular_file(folder / kSingleFile, ec)) return load_file(folder / kSingleFile);
  if (fs::is_regular_file(folder / kIndexFile, ec)) return load_index(folder / kIndexFile);
  if (fs::is_directory(folder / "transformer", ec)) {
    fs::path sub = folder / "transformer";
    PARDIT_INPUT_CHECK(fs::is_regular_file(sub / kSingleFile, ec) || fs::is_regular_file(sub / kIndexFile, ec),
                       "pipeline folder {} has a transformer/ subfolder without {} or {}; download the "
                       "transformer weights (safetensors) into it",
                       folder.string(), kSingleFile, kIndexFile);
    return load_folder(sub);
  }
  std::string found;
  for (const auto& entry : fs::directory_iterator(folder, ec))
    if (ends_with(entry.path().string(), ".safetensors")) found += " " + entry.path().filename().string();
  throw InputError(fmt::format("weights folder {} holds neither {} nor {} nor a transformer/ subfolder{}; {}",
                               folder.string(), kSingleFile, kIndexFile,
                               found.empty() ? "" : " (safetensors files there:" + found + "; pass one of them)",
                               kExpected));
}
}  // namespace

WeightSource load_weights(const fs::path& path) {
  std::error_code ec;
  PARDIT_INPUT_CHECK(fs::exists(path, ec), "weights path {} does not exist; {}", path.string(), kExpected);
  if (fs::is_directory(path, ec)) return load_folder(path);
  const std::string name = path.filename().string();
  if (ends_with(name, ".safetensors.index.json")) return load_index(path);
  PARDIT_INPUT_CHECK(ends_with(name, ".safetensors"),
                     "weights path {} is not a safetensors file; {}. PyTorch .bin/.pt checkpoints are not read: "
                     "convert them with safetensors.torch.save_file",
                     path.string(), kExpected);
  return load_file(path);
}

}  // namespace pardit::io
