// `pardit run`: the option table of io::RunConfig becomes CLI11 options; --config loads a TOML
// file first, and options given on the command line override it.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "pardit/app/commands.hpp"
#include "pardit/app/run_job.hpp"
#include "pardit/io/run_config.hpp"
#include "pardit/runtime/mpi_session.hpp"

namespace pardit::app {
namespace {

struct RunCommand {
  io::RunConfig cli;  // values parsed from the command line
  std::string config_file;
  std::vector<std::pair<CLI::Option*, size_t>> options;  // option -> index in config_fields()
};

std::string& command_line_storage() {
  static std::string line;
  return line;
}

}  // namespace

void set_command_line(int argc, char** argv) {
  std::string& line = command_line_storage();
  line.clear();
  for (int i = 0; i < argc; ++i) line += (i ? " " : "") + std::string(argv[i]);
}

const std::string& command_line() { return command_line_storage(); }

void add_run_command(CLI::App& root, Action& action) {
  auto state = std::make_shared<RunCommand>();
  CLI::App* cmd = root.add_subcommand("run", "generate latents (the default when no subcommand is given)");
  cmd->add_option("--config", state->config_file, "TOML run config; command-line options override its keys")
      ->check(CLI::ExistingFile);
  io::RunConfig defaults;
  auto fields = io::config_fields(state->cli);
  auto default_fields = io::config_fields(defaults);
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& f = fields[i];
    CLI::Option* opt = std::visit(
        [&](auto* target) -> CLI::Option* {
          using T = std::remove_pointer_t<decltype(target)>;
          if constexpr (std::is_same_v<T, bool>) {
            return cmd->add_flag(f.flag(), *target, f.help);
          } else {
            CLI::Option* o = cmd->add_option(f.flag(), *target, f.help)->capture_default_str();
            if constexpr (std::is_same_v<T, uint64_t>) o->check(CLI::NonNegativeNumber);  // as the TOML loader
            return o;
          }
        },
        f.target);
    state->options.emplace_back(opt, i);
  }
  cmd->callback([state, &action] {
    action = [state] {
      // Defaults, then the TOML file, then what the command line set explicitly.
      io::RunConfig config;
      if (!state->config_file.empty()) io::apply_toml_file(config, state->config_file);
      auto from = io::config_fields(state->cli);
      auto to = io::config_fields(config);
      for (const auto& [opt, i] : state->options) {
        if (opt->count() == 0) continue;
        std::visit([&](auto* dst) { *dst = *std::get<std::remove_reference_t<decltype(dst)>>(from[i].target); },
                   to[i].target);
      }
      io::validate(config);  // before MPI, model or files: cheap checks first
      runtime::MpiSession session;
      return run_job(config, command_line(), session);
    };
  });
}

}  // namespace pardit::app
