#include "pardit/runtime/parallel_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <numeric>
#include <vector>

#include "pardit/common/error.hpp"

namespace pardit::runtime {
namespace {

std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> out;
  for (int64_t d = 1; d <= n; ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

std::string list(const std::vector<int64_t>& values) { return fmt::format("{}", fmt::join(values, ",")); }

}  // namespace

std::string ParallelConfig::str() const {
  return fmt::format("dp={} cfg={} pipefusion={} ring={} ulysses={} (patches={}, warmup_steps={})", dp, cfg,
                     pipefusion, ring, ulysses, patches(), warmup_steps);
}

std::string ParallelConfig::mesh_name() const {
  std::string name;
  if (dp > 1) name += fmt::format("dp{}", dp);
  if (cfg > 1) name += fmt::format("cfg{}", cfg);
  if (pipefusion > 1) name += fmt::format("pf{}", pipefusion);
  if (ulysses > 1) name += fmt::format("u{}", ulysses);
  if (ring > 1) name += fmt::format("r{}", ring);
  return name.empty() ? "1" : name;
}

ModelShape ModelShape::flux_dev(int height, int width) {
  ModelShape shape;
  shape.latent_rows = height / 16;
  shape.image_tokens = static_cast<int64_t>(height / 16) * (width / 16);
  return shape;
}

void validate(const ParallelConfig& c, int world_size, const ModelShape& model) {
  std::vector<std::string> problems;
  const std::pair<const char*, int> degrees[] = {
      {"dp", c.dp}, {"cfg", c.cfg}, {"pipefusion", c.pipefusion}, {"ring", c.ring}, {"ulysses", c.ulysses}};
  bool degrees_positive = true;
  for (const auto& [name, value] : degrees)
    if (value < 1) {
      problems.push_back(fmt::format("{}={} must be at least 1", name, value));
      degrees_positive = false;
    }
  if (degrees_positive && c.world_size() != world_size)
    problems.push_back(fmt::format("dp*cfg*pipefusion*ring*ulysses = {} but the job has {} ranks; the degrees must "
                                   "multiply to {} (divisors: {})",
                                   c.world_size(), world_size, world_size, list(divisors(world_size))));
  if (c.ulysses >= 1 && model.num_heads % c.ulysses != 0)
    problems.push_back(fmt::format("ulysses={} does not divide {} heads; valid: {}", c.ulysses, model.num_heads,
                                   list(divisors(model.num_heads))));
  const int64_t sp = static_cast<int64_t>(c.ring) * c.ulysses;
  if (sp >= 1 && (model.text_tokens % sp != 0 || model.image_tokens % sp != 0))
    problems.push_back(fmt::format("ring*ulysses={} must divide both {} text tokens and {} image tokens; valid "
                                   "ring*ulysses: {}",
                                   sp, model.text_tokens, model.image_tokens,
                                   list(divisors(std::gcd(model.text_tokens, model.image_tokens)))));
  if (c.pipefusion > model.num_layers_total)
    problems.push_back(fmt::format("pipefusion={} exceeds the {} transformer blocks; valid: 1..{}", c.pipefusion,
                                   model.num_layers_total, model.num_layers_total));
  if (c.num_pipeline_patches < 0)
    problems.push_back(fmt::format("num_pipeline_patches={} must be 0 (= pipefusion) or positive",
                                   c.num_pipeline_patches));
  else if (c.pipefusion > 1 && c.patches() >= 1 && model.latent_rows % c.patches() != 0)
    problems.push_back(fmt::format("{} pipeline patches do not divide the {} latent rows (height/16); valid: {}",
                                   c.patches(), model.latent_rows, list(divisors(model.latent_rows))));
  if (c.cfg > model.cfg_max)
    problems.push_back(fmt::format("cfg={} but this run has {} guidance branch(es); valid: 1..{}{}", c.cfg,
                                   model.cfg_max, model.cfg_max,
                                   model.cfg_max < 2 ? " (cfg=2 needs true CFG with a negative prompt)" : ""));
  if (c.warmup_steps < 0) problems.push_back(fmt::format("warmup_steps={} must be >= 0", c.warmup_steps));

  if (problems.empty()) return;
  std::string message = fmt::format("invalid parallel layout {}:", c.str());
  for (const auto& p : problems) message += "\n  - " + p;
  throw InputError(message);
}

}  // namespace pardit::runtime
