// pardit: parallel diffusion-transformer inference. Subcommands live in src/app/*_command.cpp.
#include <CLI/CLI.hpp>

#include <exception>

#include "pardit/app/commands.hpp"
#include "pardit/common/error.hpp"
#include "pardit/runtime/abort.hpp"

int main(int argc, char** argv) {
  CLI::App root{"pardit: Flux diffusion-transformer inference across GPUs and nodes (MPI + NCCL + LibTorch)"};
  root.require_subcommand(0, 1);
  pardit::app::set_command_line(argc, argv);
  pardit::app::Action action;
  pardit::app::add_run_command(root, action);
  pardit::app::add_topo_command(root, action);
  pardit::app::add_inspect_command(root, action);
  pardit::app::add_version_command(root, action);
  pardit::app::add_vet_prompts_command(root, action);
  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = root.exit(e);
    return code == 0 ? 0 : static_cast<int>(pardit::ExitCode::bad_input);
  }
  if (!action) {
    // No subcommand: the built-in default job (flux-tiny on CPU), as the README promises.
    const char* default_args[] = {argv[0], "run"};
    root.parse(2, const_cast<char**>(default_args));
  }
  try {
    return action();
  } catch (const std::exception& e) {
    // One rank failed: say why and take the whole job down (other ranks may sit in a collective).
    pardit::runtime::abort_job(e, pardit::runtime::exit_code_of(e));
  }
}
