#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <string>

#include "pardit/app/commands.hpp"
#include "pardit/common/error.hpp"
#include "pardit/io/prompt_file.hpp"

namespace pardit::app {

void add_vet_prompts_command(CLI::App& root, Action& action) {
  CLI::App* cmd = root.add_subcommand(
      "vet-prompts",
      "read a prompt file as `run` would and say whether it is usable (exit 0) or not (exit 2); `run` reads "
      "every prompt file this way in a separate process first");
  auto file = std::make_shared<std::string>();
  auto expect = std::make_shared<io::PromptFileShape>(io::PromptFileShape{4096, 768, 16, 128, 128});
  cmd->add_option("file", *file, "the prompt-embedding HDF5 file")->required();
  cmd->add_option("--joint-attention-dim", expect->joint_attention_dim, "last dim of /prompt_embeds")
      ->capture_default_str();
  cmd->add_option("--pooled-projection-dim", expect->pooled_projection_dim, "last dim of /pooled_prompt_embeds")
      ->capture_default_str();
  cmd->add_option("--latent-channels", expect->latent_channels, "channels of /initial_noise")->capture_default_str();
  cmd->add_option("--latent-height", expect->latent_height, "image height / 8")->capture_default_str();
  cmd->add_option("--latent-width", expect->latent_width, "image width / 8")->capture_default_str();
  cmd->callback([&action, file, expect] {
    action = [file, expect] {
      try {
        const io::PromptSet prompts = io::read_prompt_file(*file, *expect);
        fmt::print("{}: {} prompt(s), {} text tokens\n", *file, prompts.size(), prompts.prompt_embeds.size(1));
        return 0;
      } catch (const InputError& e) {
        fmt::print(stderr, "{}\n", e.what());
        return static_cast<int>(ExitCode::bad_input);
      }
    };
  });
}

}  // namespace pardit::app
