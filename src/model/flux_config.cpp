#include "pardit/model/flux_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "pardit/common/error.hpp"

namespace pardit::model {

void FluxConfig::validate() const {
  PARDIT_INPUT_CHECK(patch_size == 1, "model '{}': patch_size={} is not supported (Flux uses 1)", name, patch_size);
  PARDIT_INPUT_CHECK(in_channels > 0 && in_channels % 4 == 0,
                     "model '{}': in_channels={} must be a positive multiple of 4 (2x2 packed latents)", name,
                     in_channels);
  PARDIT_INPUT_CHECK(out_channels > 0, "model '{}': out_channels must be positive", name);
  PARDIT_INPUT_CHECK(num_layers >= 0 && num_single_layers >= 0 && num_layers + num_single_layers > 0,
                     "model '{}': needs at least one block (num_layers={}, num_single_layers={})", name, num_layers,
                     num_single_layers);
  PARDIT_INPUT_CHECK(num_attention_heads > 0 && attention_head_dim > 0 && attention_head_dim % 2 == 0,
                     "model '{}': heads={} and an even attention_head_dim={} are required", name,
                     num_attention_heads, attention_head_dim);
  int64_t rope_sum = axes_dims_rope[0] + axes_dims_rope[1] + axes_dims_rope[2];
  PARDIT_INPUT_CHECK(rope_sum == attention_head_dim,
                     "model '{}': axes_dims_rope {} sum to {} but attention_head_dim is {}", name,
                     axes_dims_rope, rope_sum, attention_head_dim);
  for (int64_t d : axes_dims_rope)
    PARDIT_INPUT_CHECK(d > 0 && d % 2 == 0, "model '{}': every axes_dims_rope entry must be even and positive",
                       name);
  PARDIT_INPUT_CHECK(joint_attention_dim > 0 && pooled_projection_dim > 0 && text_tokens > 0,
                     "model '{}': joint_attention_dim, pooled_projection_dim and text_tokens must be positive", name);
}

std::vector<std::string> builtin_model_names() { return {"flux-dev", "flux-schnell", "flux-tiny"}; }

FluxConfig builtin_model_config(const std::string& name) {
  FluxConfig c;  // defaults are flux-dev
  c.name = name;
  if (name == "flux-dev") return c;
  if (name == "flux-schnell") {
    c.guidance_embeds = false;
    return c;
  }
  if (name == "flux-tiny") {
    // Same structure as flux-dev, small enough for a CPU demo and CPU tests.
    c.num_layers = 2;
    c.num_single_layers = 4;
    c.attention_head_dim = 32;
    c.num_attention_heads = 4;
    c.joint_attention_dim = 64;
    c.pooled_projection_dim = 32;
    c.axes_dims_rope = {8, 12, 12};
    c.text_tokens = 32;
    return c;
  }
  throw InputError(fmt::format("unknown model '{}': use one of {} or a path to a model TOML / diffusers config.json",
                               name, builtin_model_names()));
}

namespace {
template <class T>
T toml_get(const toml::table& t, const char* key, T fallback, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  auto v = n->value<T>();
  PARDIT_INPUT_CHECK(v.has_value(), "{}: key '{}' has the wrong type", where, key);
  return *v;
}
}  // namespace

FluxConfig model_config_from_toml_file(const std::filesystem::path& file) {
  toml::table t;
  try {
    t = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}: not valid TOML: {} (line {})", file.string(), e.description(),
                                 e.source().begin.line));
  }
  const std::string where = file.string();
  static const std::vector<std::string> known = {"name", "patch_size", "in_channels", "out_channels", "num_layers",
                                                 "num_single_layers", "attention_head_dim", "num_attention_heads",
                                                 "joint_attention_dim", "pooled_projection_dim", "guidance_embeds",
                                                 "axes_dims_rope", "rope_theta", "text_tokens"};
  for (auto&& [k, v] : t) {
    bool ok = std::find(known.begin(), known.end(), std::string(k.str())) != known.end();
    PARDIT_INPUT_CHECK(ok, "{}: unknown key '{}'; known keys: {}", where, k.str(), known);
  }
  FluxConfig c;
  c.name = toml_get<std::string>(t, "name", file.stem().string(), where);
  c.patch_size = toml_get<int64_t>(t, "patch_size", c.patch_size, where);
  c.in_channels = toml_get<int64_t>(t, "in_channels", c.in_channels, where);
  c.out_channels = toml_get<int64_t>(t, "out_channels", c.in_channels, where);
  c.num_layers = toml_get<int64_t>(t, "num_layers", c.num_layers, where);
  c.num_single_layers = toml_get<int64_t>(t, "num_single_layers", c.num_single_layers, where);
  c.attention_head_dim = toml_get<int64_t>(t, "attention_head_dim", c.attention_head_dim, where);
  c.num_attention_heads = toml_get<int64_t>(t, "num_attention_heads", c.num_attention_heads, where);
  c.joint_attention_dim = toml_get<int64_t>(t, "joint_attention_dim", c.joint_attention_dim, where);
  c.pooled_projection_dim = toml_get<int64_t>(t, "pooled_projection_dim", c.pooled_projection_dim, where);
  c.guidance_embeds = toml_get<bool>(t, "guidance_embeds", c.guidance_embeds, where);
  c.rope_theta = toml_get<double>(t, "rope_theta", c.rope_theta, where);
  c.text_tokens = toml_get<int64_t>(t, "text_tokens", c.text_tokens, where);
  if (const toml::array* a = t["axes_dims_rope"].as_array()) {
    PARDIT_INPUT_CHECK(a->size() == 3, "{}: axes_dims_rope needs 3 integers", where);
    for (size_t i = 0; i < 3; ++i) {
      auto v = (*a)[i].value<int64_t>();
      PARDIT_INPUT_CHECK(v.has_value(), "{}: axes_dims_rope[{}] is not an integer", where, i);
      c.axes_dims_rope[i] = *v;
    }
  }
  c.validate();
  return c;
}

FluxConfig model_config_from_diffusers_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  PARDIT_INPUT_CHECK(in.good(), "cannot read model config {}", file.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
  if (j.contains("_class_name"))
    PARDIT_INPUT_CHECK(j["_class_name"] == "FluxTransformer2DModel",
                       "{}: _class_name is {}, pardit runs FluxTransformer2DModel", file.string(),
                       j["_class_name"].dump());
  FluxConfig c;
  c.name = file.parent_path().filename().string();
  try {
    c.patch_size = j.value("patch_size", c.patch_size);
    c.in_channels = j.value("in_channels", c.in_channels);
    c.out_channels = j["out_channels"].is_null() || !j.contains("out_channels")
                         ? c.in_channels
                         : j["out_channels"].get<int64_t>();
    c.num_layers = j.value("num_layers", c.num_layers);
    c.num_single_layers = j.value("num_single_layers", c.num_single_layers);
    c.attention_head_dim = j.value("attention_head_dim", c.attention_head_dim);
    c.num_attention_heads = j.value("num_attention_heads", c.num_attention_heads);
    c.joint_attention_dim = j.value("joint_attention_dim", c.joint_attention_dim);
    c.pooled_projection_dim = j.value("pooled_projection_dim", c.pooled_projection_dim);
    c.guidance_embeds = j.value("guidance_embeds", false);
    if (j.contains("axes_dims_rope")) {
      auto v = j["axes_dims_rope"].get<std::vector<int64_t>>();
      PARDIT_INPUT_CHECK(v.size() == 3, "{}: axes_dims_rope needs 3 integers", file.string());
      c.axes_dims_rope = {v[0], v[1], v[2]};
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: a field has the wrong type: {}", file.string(), e.what()));
  }
  c.validate();
  return c;
}

FluxConfig load_model_config(const std::string& name_or_file) {
  for (const auto& n : builtin_model_names())
    if (n == name_or_file) return builtin_model_config(n);
  std::filesystem::path p(name_or_file);
  if (std::filesystem::is_directory(p) && std::filesystem::exists(p / "config.json"))
    return model_config_from_diffusers_json(p / "config.json");
  if (std::filesystem::is_regular_file(p)) {
    if (p.extension() == ".json") return model_config_from_diffusers_json(p);
    return model_config_from_toml_file(p);
  }
  return builtin_model_config(name_or_file);  // throws the "unknown model" message
}

}  // namespace pardit::model
