// Prompt-embedding input. Validation is strict and early: a wrong embedding size would
// otherwise surface as a shape error deep inside the first transformer block, after the
// weights of every rank were loaded.
#include "pardit/io/prompt_file.hpp"

#include "hdf5.hpp"
#include "pardit/common/error.hpp"

#include <fmt/ranges.h>

namespace pardit::io {
namespace {
std::string shape_str(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

at::Tensor read_float(hid_t file, const std::filesystem::path& path, const std::string& name) {
  PARDIT_INPUT_CHECK(h5::is_float_dataset(file, name),
                     "prompt file {}: /{} is not a floating-point dataset; write it as float32", path.string(), name);
  return h5::read_tensor(file, name).to(at::kFloat);
}
}  // namespace

int64_t PromptSet::size() const { return prompt_embeds.defined() ? prompt_embeds.size(0) : 0; }

namespace {
PromptSet read_prompt_file_checked(const std::filesystem::path& file, const PromptFileShape& expect);
}  // namespace

PromptSet read_prompt_file(const std::filesystem::path& file, const PromptFileShape& expect) {
  try {
    return read_prompt_file_checked(file, expect);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    // HDF5 or allocation failures on a damaged file are still the input's fault.
    throw InputError(fmt::format("prompt file {} cannot be read: {}; the file is damaged or was not written "
                                 "as docs/output-format.md describes",
                                 file.string(), e.what()));
  }
}

namespace {
PromptSet read_prompt_file_checked(const std::filesystem::path& file, const PromptFileShape& expect) {
  h5::Handle f = h5::open_file(file, "prompt file");
  const std::string where = "prompt file " + file.string();
  const auto found = h5::children(f);
  for (const char* required : {"prompt_embeds", "pooled_prompt_embeds"})
    PARDIT_INPUT_CHECK(h5::exists(f, required),
                       "{} has no /{} dataset (found: {}); write /prompt_embeds [P, L, {}] and "
                       "/pooled_prompt_embeds [P, {}] (see docs/output-format.md or scripts for the encoder)",
                       where, required, found.empty() ? "nothing" : fmt::format("{}", fmt::join(found, ", ")),
                       expect.joint_attention_dim, expect.pooled_projection_dim);

  PromptSet set;
  set.prompt_embeds = read_float(f, file, "prompt_embeds");
  set.pooled_prompt_embeds = read_float(f, file, "pooled_prompt_embeds");
  const at::Tensor& pe = set.prompt_embeds;
  const at::Tensor& pp = set.pooled_prompt_embeds;
  PARDIT_INPUT_CHECK(pe.dim() == 3, "{}: /prompt_embeds is {}, expected [P, L, {}] (P prompts of L tokens)", where,
                     shape_str(pe), expect.joint_attention_dim);
  PARDIT_INPUT_CHECK(pp.dim() == 2, "{}: /pooled_prompt_embeds is {}, expected [P, {}]", where, shape_str(pp),
                     expect.pooled_projection_dim);
  const int64_t num_prompts = pe.size(0);
  PARDIT_INPUT_CHECK(num_prompts >= 1, "{}: /prompt_embeds holds no prompts (P = 0); write at least one", where);
  PARDIT_INPUT_CHECK(pe.size(1) >= 1, "{}: /prompt_embeds has no tokens (L = 0); encode the prompts again", where);
  PARDIT_INPUT_CHECK(pp.size(0) == num_prompts,
                     "{}: /pooled_prompt_embeds has {} prompts but /prompt_embeds has {}; write both for the same "
                     "prompts", where, pp.size(0), num_prompts);
  PARDIT_INPUT_CHECK(pe.size(2) == expect.joint_attention_dim,
                     "{}: /prompt_embeds is {} but the model expects joint_attention_dim = {} in the last dimension; "
                     "encode the prompts with the text encoder of this model (T5-XXL for Flux)",
                     where, shape_str(pe), expect.joint_attention_dim);
  PARDIT_INPUT_CHECK(pp.size(1) == expect.pooled_projection_dim,
                     "{}: /pooled_prompt_embeds is {} but the model expects pooled_projection_dim = {}; encode the "
                     "prompts with the pooled text encoder of this model (CLIP-L for Flux)",
                     where, shape_str(pp), expect.pooled_projection_dim);

  const bool has_neg = h5::exists(f, "negative_prompt_embeds");
  const bool has_neg_pooled = h5::exists(f, "negative_pooled_prompt_embeds");
  PARDIT_INPUT_CHECK(has_neg == has_neg_pooled,
                     "{}: has /{} without /{}; negative prompts need both datasets", where,
                     has_neg ? "negative_prompt_embeds" : "negative_pooled_prompt_embeds",
                     has_neg ? "negative_pooled_prompt_embeds" : "negative_prompt_embeds");
  if (has_neg) {
    set.negative_prompt_embeds = read_float(f, file, "negative_prompt_embeds");
    set.negative_pooled_prompt_embeds = read_float(f, file, "negative_pooled_prompt_embeds");
    PARDIT_INPUT_CHECK(set.negative_prompt_embeds.sizes() == pe.sizes(),
                       "{}: /negative_prompt_embeds is {} but /prompt_embeds is {}; encode the negative prompts with "
                       "the same encoder and padding length", where, shape_str(set.negative_prompt_embeds),
                       shape_str(pe));
    PARDIT_INPUT_CHECK(set.negative_pooled_prompt_embeds.sizes() == pp.sizes(),
                       "{}: /negative_pooled_prompt_embeds is {} but /pooled_prompt_embeds is {}; encode the negative "
                       "prompts with the same encoder", where, shape_str(set.negative_pooled_prompt_embeds),
                       shape_str(pp));
  }

  if (h5::exists(f, "initial_noise")) {
    set.initial_noise = read_float(f, file, "initial_noise");
    const std::vector<int64_t> want{num_prompts, expect.latent_channels, expect.latent_height, expect.latent_width};
    const at::Tensor& n = set.initial_noise;
    std::string corresponds;
    if (n.dim() == 4)
      corresponds = fmt::format(", which corresponds to a {}x{} (height x width) image", n.size(2) * 8, n.size(3) * 8);
    PARDIT_INPUT_CHECK(n.sizes() == at::IntArrayRef(want),
                       "{}: /initial_noise is {}{}, but this run needs [{}] for a {}x{} image with {} latent "
                       "channels; set --height/--width to match the noise, or regenerate the noise",
                       where, shape_str(n), corresponds, fmt::join(want, ", "), expect.latent_height * 8,
                       expect.latent_width * 8, expect.latent_channels);
  }

  if (h5::exists(f, "prompts")) {
    set.prompts = h5::read_strings(f, "prompts");
    PARDIT_INPUT_CHECK(static_cast<int64_t>(set.prompts.size()) == num_prompts,
                       "{}: /prompts has {} strings but /prompt_embeds has {} prompts; write one string per prompt",
                       where, set.prompts.size(), num_prompts);
  }
  return set;
}

}  // namespace

void write_prompt_file(const std::filesystem::path& file, const PromptSet& prompts) {
  h5::Handle f = h5::create_file(file);
  auto write = [&](const char* name, const at::Tensor& t) {
    if (t.defined()) h5::write_tensor(f, name, t.to(at::kFloat));
  };
  write("prompt_embeds", prompts.prompt_embeds);
  write("pooled_prompt_embeds", prompts.pooled_prompt_embeds);
  write("negative_prompt_embeds", prompts.negative_prompt_embeds);
  write("negative_pooled_prompt_embeds", prompts.negative_pooled_prompt_embeds);
  write("initial_noise", prompts.initial_noise);
  if (!prompts.prompts.empty()) h5::write_strings(f, "prompts", prompts.prompts);
  f.close_checked("closing the prompt file");
}

}  // namespace pardit::io
