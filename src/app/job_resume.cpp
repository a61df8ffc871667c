#include "job_resume.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>

#include "pardit/app/build_info.hpp"
#include "pardit/common/error.hpp"
#include "pardit/common/log.hpp"

namespace pardit::app {
namespace {

// The options that decide a prompt's latents. Anything else (parallel degrees, output path,
// timeouts, device) may change between the stopped run and the resumed one.
std::vector<std::string> differences(const io::RunConfig& old_config, const io::RunConfig& now) {
  std::vector<std::string> diffs;
  auto cmp = [&](const char* key, const auto& a, const auto& b) {
    if (a != b) diffs.push_back(fmt::format("{} = {} in the file, {} now", key, a, b));
  };
  cmp("model", old_config.model, now.model);
  cmp("weights", old_config.weights, now.weights);
  if (old_config.weights.empty()) cmp("weights_seed", old_config.weights_seed, now.weights_seed);
  cmp("prompts", old_config.prompts, now.prompts);
  if (old_config.prompts.empty()) cmp("num_prompts", old_config.num_prompts, now.num_prompts);
  cmp("height", old_config.height, now.height);
  cmp("width", old_config.width, now.width);
  cmp("steps", old_config.steps, now.steps);
  cmp("seed", old_config.seed, now.seed);
  cmp("guidance", old_config.guidance, now.guidance);
  cmp("true_cfg_scale", old_config.true_cfg_scale, now.true_cfg_scale);
  cmp("dtype", old_config.dtype, now.dtype);
  return diffs;
}

}  // namespace

PreviousRun read_previous_run(const io::RunConfig& config, int64_t num_prompts, const pipeline::LatentShape& shape) {
  const std::string& file = config.resume;
  PARDIT_INPUT_CHECK(std::filesystem::is_regular_file(file), "--resume {}: no such file", file);
  PreviousRun prev;
  prev.data = io::read_output(file);  // InputError on a file that is not a pardit output
  const auto& attrs = prev.data.attributes;
  auto it = attrs.find("config");
  PARDIT_INPUT_CHECK(it != attrs.end(), "--resume {}: the file has no `config` attribute; not a pardit output file",
                     file);
  io::RunConfig old_config;
  io::apply_toml_text(old_config, it->second, file + " (attribute config)");
  const auto diffs = differences(old_config, config);
  PARDIT_INPUT_CHECK(diffs.empty(),
                     "--resume {}: the file was written by a different job, its latents cannot be continued: {}. "
                     "Resume with the same options, or start a fresh run without --resume",
                     file, fmt::join(diffs, "; "));
  // Another build may round differently (a changed kernel, another LibTorch): the finished prompts
  // would then not match what this build computes for the rest. Allowed, but said.
  if (auto rev = attrs.find("git_revision"); rev != attrs.end() && rev->second != kGitRevision)
    log::warn("--resume {}: written by pardit {} (this is {}); latents of the two builds may differ in the last bits",
              file, rev->second, kGitRevision);
  const at::Tensor& latents = prev.data.latents;
  const std::vector<int64_t> expected{num_prompts, shape.channels, shape.height, shape.width};
  PARDIT_INPUT_CHECK(latents.defined() && latents.sizes().vec() == expected,
                     "--resume {}: /latents has shape [{}], this job needs [{}]", file,
                     latents.defined() ? fmt::format("{}", fmt::join(latents.sizes(), ", ")) : "none",
                     fmt::join(expected, ", "));

  // A prompt is finished when some rank recorded all its step times (the writer keeps NaN for
  // prompts that were abandoned or never started), and its latents are finite.
  prev.done.assign(static_cast<size_t>(num_prompts), 0);
  auto st = prev.data.timings.find("step_seconds");
  PARDIT_INPUT_CHECK(st != prev.data.timings.end() && st->second.dim() == 3 && st->second.size(1) == num_prompts &&
                         st->second.size(2) == config.steps,
                     "--resume {}: /timings/step_seconds is missing or has the wrong shape", file);
  if (prev.data.complete) {
    prev.done.assign(static_cast<size_t>(num_prompts), 1);
  } else {
    at::Tensor finished = at::isfinite(st->second.to(at::kDouble)).all(2).any(0);          // [P]
    at::Tensor finite = at::isfinite(latents.reshape({num_prompts, -1})).all(1);           // [P]
    at::Tensor done = (finished & finite).to(at::kCPU);
    for (int64_t p = 0; p < num_prompts; ++p) prev.done[static_cast<size_t>(p)] = done[p].item<bool>() ? 1 : 0;
  }
  return prev;
}

void keep_previous_timings(io::OutputData& out, const io::OutputData& previous, const std::vector<uint8_t>& done) {
  for (const char* name : {"step_seconds", "step_host_seconds", "step_comm_wait_seconds"}) {
    auto now_it = out.timings.find(name);
    auto old_it = previous.timings.find(name);
    if (now_it == out.timings.end() || old_it == previous.timings.end()) continue;
    at::Tensor now = now_it->second;                        // [world, P, steps]
    const at::Tensor old = old_it->second.to(at::kDouble);  // [old world, P, steps]
    if (old.dim() != 3 || old.size(1) != now.size(1) || old.size(2) != now.size(2)) continue;
    for (int64_t p = 0; p < static_cast<int64_t>(done.size()); ++p) {
      if (!done[static_cast<size_t>(p)]) continue;
      if (old.size(0) == now.size(0)) {
        now.select(1, p).copy_(old.select(1, p));
      } else {
        // NaN rows (ranks that did not run the prompt) must not win the maximum.
        at::Tensor rows = old.select(1, p);
        now.select(1, p).select(0, 0).copy_(at::nan_to_num(rows, -1.0).amax(0));
      }
    }
  }
}

bool resume_replaces_output(const io::RunConfig& config) {
  if (config.resume.empty()) return false;
  std::error_code ec;
  return std::filesystem::equivalent(config.resume, config.out, ec) && !ec;
}

}  // namespace pardit::app
