#include "job_plan.hpp"

#include <filesystem>

#include "pardit/common/error.hpp"
#include "prompt_vetting.hpp"

namespace pardit::app {
namespace fs = std::filesystem;

namespace {

// A diffusers folder given to --weights brings its architecture in config.json.
std::optional<fs::path> weights_config_json(const std::string& weights) {
  if (weights.empty()) return std::nullopt;
  fs::path p(weights);
  for (fs::path candidate : {p / "config.json", p / "transformer" / "config.json", p.parent_path() / "config.json"})
    if (fs::is_regular_file(candidate)) return candidate;
  return std::nullopt;
}

bool same_architecture(const model::FluxConfig& a, const model::FluxConfig& b) {
  return a.in_channels == b.in_channels && a.out_channels == b.out_channels && a.num_layers == b.num_layers &&
         a.num_single_layers == b.num_single_layers && a.attention_head_dim == b.attention_head_dim &&
         a.num_attention_heads == b.num_attention_heads && a.joint_attention_dim == b.joint_attention_dim &&
         a.pooled_projection_dim == b.pooled_projection_dim && a.guidance_embeds == b.guidance_embeds &&
         a.axes_dims_rope == b.axes_dims_rope;
}

}  // namespace

JobPlan plan_job(const io::RunConfig& c, int world_size) {
  JobPlan plan;
  if (auto json = weights_config_json(c.weights)) {
    plan.model = model::model_config_from_diffusers_json(*json);
    plan.model_source = json->string();
    if (c.model != io::RunConfig{}.model) {
      // --model given as well: it must describe the same architecture as the folder.
      model::FluxConfig named = model::load_model_config(c.model);
      named.name = plan.model.name;
      named.text_tokens = plan.model.text_tokens;
      PARDIT_INPUT_CHECK(same_architecture(named, plan.model),
                         "--model {} differs from the architecture in {} (which --weights brings); drop --model "
                         "or point --weights at matching weights",
                         c.model, json->string());
    }
  } else {
    PARDIT_INPUT_CHECK(c.weights.empty() || fs::exists(c.weights),
                       "--weights {} does not exist: give a .safetensors file, an *.index.json or a diffusers "
                       "folder, or leave it empty for random weights",
                       c.weights);
    plan.model = model::load_model_config(c.model);
    plan.model_source = c.model;
  }
  plan.latent_shape = pipeline::LatentShape::for_image(c.height, c.width, plan.model.latent_channels());

  if (c.prompts.empty()) {
    plan.synthetic = true;
    plan.num_prompts = c.num_prompts;
    plan.text_tokens = plan.model.text_tokens;
  } else {
    plan.synthetic = false;
    const io::PromptFileShape expect{plan.model.joint_attention_dim, plan.model.pooled_projection_dim,
                                     plan.latent_shape.channels, plan.latent_shape.height, plan.latent_shape.width};
    vet_prompt_file(c.prompts, expect);  // a damaged file crashes a separate process, not the job
    plan.prompts = io::read_prompt_file(c.prompts, expect);
    plan.num_prompts = plan.prompts.size();
    plan.text_tokens = plan.prompts.prompt_embeds.size(1);
    if (c.true_cfg_scale > 1.0)
      PARDIT_INPUT_CHECK(plan.prompts.negative_prompt_embeds.defined(),
                         "--true-cfg-scale {} needs /negative_prompt_embeds and /negative_pooled_prompt_embeds in "
                         "{}; add them or set --true-cfg-scale 1",
                         c.true_cfg_scale, c.prompts);
  }

  runtime::ParallelConfig& pc = plan.parallel;
  pc.dp = static_cast<int>(c.dp_degree);
  pc.cfg = static_cast<int>(c.cfg_degree);
  pc.pipefusion = static_cast<int>(c.pipefusion_degree);
  pc.ring = static_cast<int>(c.ring_degree);
  pc.ulysses = static_cast<int>(c.ulysses_degree);
  pc.num_pipeline_patches = static_cast<int>(c.num_pipeline_patches);
  pc.warmup_steps = static_cast<int>(c.warmup_steps);
  runtime::ModelShape shape;
  shape.num_heads = static_cast<int>(plan.model.num_attention_heads);
  shape.num_layers_total = static_cast<int>(plan.model.num_blocks());
  shape.text_tokens = plan.text_tokens;
  shape.image_tokens = plan.latent_shape.tokens();
  shape.latent_rows = plan.latent_shape.token_rows();
  shape.cfg_max = c.true_cfg_scale > 1.0 ? 2 : 1;
  shape.hidden_size = static_cast<int>(plan.model.inner_dim());
  runtime::validate(pc, world_size, shape);
  return plan;
}

}  // namespace pardit::app
