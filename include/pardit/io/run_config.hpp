// The effective configuration of `pardit run`: one table of options that makes the TOML loader,
// the command-line parser and --help (see src/app/run_command.cpp), and the text written into
// the output file. Every option has a TOML key (snake_case) and a flag (--kebab-case).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

namespace pardit::io {

struct RunConfig {
  // model
  std::string model = "flux-tiny";  // built-in name, model TOML, or diffusers config.json
  std::string weights;              // safetensors file or diffusers folder; empty: seeded random init
  uint64_t weights_seed = 0;        // seed of the random init when no weights are given
  // conditioning
  std::string prompts;              // HDF5 prompt embeddings; empty: seeded synthetic
  int64_t num_prompts = 2;          // synthetic prompts only
  // sampling
  int64_t height = 256, width = 256, steps = 4;
  uint64_t seed = 0;                // prompt p uses seed + p
  double guidance = 3.5;
  double true_cfg_scale = 1.0;
  // numerics and device
  std::string dtype = "fp32";       // fp32 | bf16 | fp16
  std::string device = "cpu";       // cpu | cuda
  // parallel layout
  int64_t dp_degree = 1, cfg_degree = 1, pipefusion_degree = 1, ring_degree = 1, ulysses_degree = 1;
  int64_t num_pipeline_patches = 0;  // 0: equal to pipefusion_degree
  int64_t warmup_steps = 1;
  double comm_timeout_s = 300;       // deadline of one communication operation
  // output
  std::string out = "pardit-out.h5";
  bool overwrite = false;
  std::string resume;                // partial output file (complete = 0) to continue; empty: fresh run
};

// One row of the option table. `target` points into a RunConfig.
struct ConfigField {
  std::string key;   // TOML key; the flag is "--" + key with '_' -> '-'
  std::string help;
  std::variant<std::string*, int64_t*, uint64_t*, double*, bool*> target;
  std::string flag() const;
};
std::vector<ConfigField> config_fields(RunConfig& config);

// Applies a TOML file's keys to `config`. Unknown keys and wrong types are InputErrors that
// name the key and list the known ones.
void apply_toml_file(RunConfig& config, const std::filesystem::path& file);
void apply_toml_text(RunConfig& config, const std::string& text, const std::string& origin);
// Range checks that need no model (sizes positive, degrees >= 1, dtype/device names ...).
void validate(const RunConfig& config);
// Every option as TOML text, the form printed at start-up and stored in the output file.
std::string to_toml(const RunConfig& config);

}  // namespace pardit::io
