// A `pardit`-like executable with only the topo subcommand, so the runtime tests can exercise
// src/app/topo_command.cpp without the rest of the application.
#include <CLI/CLI.hpp>

#include "pardit/app/commands.hpp"
#include "pardit/runtime/abort.hpp"

int main(int argc, char** argv) {
  CLI::App root{"pardit (topo only, for tests)"};
  root.require_subcommand(1);
  pardit::app::Action action;
  pardit::app::add_topo_command(root, action);
  CLI11_PARSE(root, argc, argv);
  try {
    return action();
  } catch (const std::exception& e) {
    pardit::runtime::abort_job(e, pardit::runtime::exit_code_of(e));
  }
}
