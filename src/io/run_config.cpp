#include "pardit/io/run_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <toml++/toml.h>

#include "pardit/common/error.hpp"

namespace pardit::io {

std::string ConfigField::flag() const {
  std::string f = key;
  std::replace(f.begin(), f.end(), '_', '-');
  return "--" + f;
}

std::vector<ConfigField> config_fields(RunConfig& c) {
  return {
      {"model", "flux-dev | flux-schnell | flux-tiny | model TOML | diffusers config.json", &c.model},
      {"weights", "safetensors file, *.index.json or diffusers folder (its config.json sets the model); "
                  "empty: seeded random weights", &c.weights},
      {"weights_seed", "seed of the random weights when no --weights is given", &c.weights_seed},
      {"prompts", "HDF5 prompt embeddings (/prompt_embeds, /pooled_prompt_embeds ...); empty: synthetic", &c.prompts},
      {"num_prompts", "number of synthetic prompts (without --prompts)", &c.num_prompts},
      {"height", "image height in pixels, multiple of 16", &c.height},
      {"width", "image width in pixels, multiple of 16", &c.width},
      {"steps", "denoising steps", &c.steps},
      {"seed", "noise seed; prompt p uses seed + p", &c.seed},
      {"guidance", "embedded guidance scale (flux-dev)", &c.guidance},
      {"true_cfg_scale", "true classifier-free guidance scale; > 1 needs negative prompt embeddings", &c.true_cfg_scale},
      {"dtype", "fp32 | bf16 | fp16", &c.dtype},
      {"device", "cpu | cuda", &c.device},
      {"dp_degree", "data-parallel replicas (prompts spread over them)", &c.dp_degree},
      {"cfg_degree", "1, or 2 to run the conditional and unconditional passes on different ranks", &c.cfg_degree},
      {"pipefusion_degree", "PipeFusion stages", &c.pipefusion_degree},
      {"ring_degree", "Ring-attention degree (sequence parallel)", &c.ring_degree},
      {"ulysses_degree", "Ulysses degree (sequence parallel; divides the head count)", &c.ulysses_degree},
      {"num_pipeline_patches", "PipeFusion patches (0: equal to the PipeFusion degree)", &c.num_pipeline_patches},
      {"warmup_steps", "PipeFusion synchronous warm-up steps", &c.warmup_steps},
      {"comm_timeout_s", "deadline in seconds of one communication operation; a stalled peer ends the job",
       &c.comm_timeout_s},
      {"out", "output HDF5 file (written to a temporary name, renamed when complete)", &c.out},
      {"overwrite", "replace an existing output file", &c.overwrite},
      {"resume", "continue from a partial output file of a stopped run (same model, size, steps, seed, "
                 "prompts): its finished prompts are kept, the rest computed; --out may name the same file",
       &c.resume},
  };
}

namespace {

// Longer deadlines are not useful and would overflow the runtime's clock arithmetic.
constexpr double kMaxCommTimeoutSeconds = 7 * 24 * 3600.0;

std::vector<std::string> known_keys(RunConfig& c) {
  std::vector<std::string> keys;
  for (const auto& f : config_fields(c)) keys.push_back(f.key);
  return keys;
}

void assign(const ConfigField& field, const toml::node& node, const std::string& origin) {
  auto type_error = [&](const char* expected) {
    return InputError(fmt::format("{}: key '{}' must be {} ({})", origin, field.key, expected, field.help));
  };
  std::visit(
      [&](auto* target) {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_same_v<T, std::string>) {
          auto v = node.value_exact<std::string>();
          if (!v) throw type_error("a string");
          *target = *v;
        } else if constexpr (std::is_same_v<T, bool>) {
          auto v = node.value_exact<bool>();
          if (!v) throw type_error("true or false");
          *target = *v;
        } else if constexpr (std::is_same_v<T, double>) {
          auto v = node.value<double>();
          if (!v || node.is_boolean() || node.is_string()) throw type_error("a number");
          *target = *v;
        } else {
          auto v = node.value_exact<int64_t>();
          if (!v) throw type_error("an integer");
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (*v < 0) throw type_error("a non-negative integer");
          }
          *target = static_cast<T>(*v);
        }
      },
      field.target);
}

void apply_table(RunConfig& config, const toml::table& table, const std::string& origin) {
  auto fields = config_fields(config);
  for (auto&& [key, node] : table) {
    const std::string_view name = key.str();  // structured bindings cannot be captured before clang 16 (fuzz/)
    auto it = std::find_if(fields.begin(), fields.end(), [&](const ConfigField& f) { return f.key == name; });
    if (it == fields.end())
      throw InputError(fmt::format("{}: unknown key '{}'; known keys: {}", origin, key.str(),
                                   fmt::join(known_keys(config), ", ")));
    assign(*it, node, origin);
  }
}

}  // namespace

void apply_toml_text(RunConfig& config, const std::string& text, const std::string& origin) {
  toml::table table;
  try {
    table = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}: not valid TOML: {}", origin, e.source().begin.line, e.description()));
  }
  apply_table(config, table, origin);
}

void apply_toml_file(RunConfig& config, const std::filesystem::path& file) {
  PARDIT_INPUT_CHECK(std::filesystem::is_regular_file(file), "config file {} does not exist", file.string());
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw InputError(
        fmt::format("{}:{}: not valid TOML: {}", file.string(), e.source().begin.line, e.description()));
  }
  apply_table(config, table, file.string());
}

void validate(const RunConfig& c) {
  PARDIT_INPUT_CHECK(c.height > 0 && c.width > 0 && c.height % 16 == 0 && c.width % 16 == 0,
                     "image size {}x{} (--height x --width) must be positive multiples of 16; nearest valid: {}x{}",
                     c.height, c.width, std::max<int64_t>(16, (c.height + 8) / 16 * 16),
                     std::max<int64_t>(16, (c.width + 8) / 16 * 16));
  PARDIT_INPUT_CHECK(c.steps >= 1 && c.steps <= 10000, "--steps {} must be between 1 and 10000", c.steps);
  PARDIT_INPUT_CHECK(c.num_prompts >= 1, "--num-prompts {} must be at least 1", c.num_prompts);
  PARDIT_INPUT_CHECK(std::isfinite(c.guidance) && c.guidance >= 0, "--guidance {} must be a finite number >= 0",
                     c.guidance);
  PARDIT_INPUT_CHECK(std::isfinite(c.true_cfg_scale) && c.true_cfg_scale >= 1.0,
                     "--true-cfg-scale {} must be a finite number >= 1 (1 disables true CFG)", c.true_cfg_scale);
  PARDIT_INPUT_CHECK(c.dtype == "fp32" || c.dtype == "bf16" || c.dtype == "fp16",
                     "--dtype '{}' is not one of fp32, bf16, fp16", c.dtype);
  PARDIT_INPUT_CHECK(c.device == "cpu" || c.device == "cuda", "--device '{}' is not one of cpu, cuda", c.device);
  for (auto [name, v] : {std::pair{"--dp-degree", c.dp_degree}, {"--cfg-degree", c.cfg_degree},
                         {"--pipefusion-degree", c.pipefusion_degree}, {"--ring-degree", c.ring_degree},
                         {"--ulysses-degree", c.ulysses_degree}})
    PARDIT_INPUT_CHECK(v >= 1, "{} {} must be at least 1", name, v);
  PARDIT_INPUT_CHECK(c.num_pipeline_patches >= 0, "--num-pipeline-patches must be >= 0");
  PARDIT_INPUT_CHECK(c.warmup_steps >= 0, "--warmup-steps must be >= 0");
  PARDIT_INPUT_CHECK(c.comm_timeout_s > 0 && c.comm_timeout_s <= kMaxCommTimeoutSeconds,
                     "--comm-timeout-s {} must be positive and at most {} (one week)", c.comm_timeout_s,
                     kMaxCommTimeoutSeconds);
  PARDIT_INPUT_CHECK(!c.out.empty(), "--out must name an output file");
}

std::string to_toml(const RunConfig& config) {
  RunConfig copy = config;
  std::ostringstream out;
  for (const auto& f : config_fields(copy)) {
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            out << f.key << " = " << toml::value<std::string>(*v) << "\n";
          } else if constexpr (std::is_same_v<T, bool>) {
            out << f.key << " = " << (*v ? "true" : "false") << "\n";
          } else if constexpr (std::is_same_v<T, double>) {
            // Shortest round-trip form; TOML needs a '.' or an exponent to read it back as a float
            // ("inf" and "nan" are TOML floats as they are).
            const std::string text = fmt::format("{}", *v);
            const bool integral = text.find_first_not_of("-0123456789") == std::string::npos;
            out << f.key << " = " << text << (integral ? ".0" : "") << "\n";
          } else {
            out << f.key << " = " << *v << "\n";
          }
        },
        f.target);
  }
  return out.str();
}

}  // namespace pardit::io
