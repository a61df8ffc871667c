// The subcommands of the `pardit` executable, one file each under src/app/.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace pardit::app {

// A subcommand registers its options on `root` (one option table makes both the parser and
// --help) and sets `action` to what main() runs when it was chosen; the action returns the exit code.
using Action = std::function<int()>;

// The process's command line as one string (for provenance), set by main() before parsing.
void set_command_line(int argc, char** argv);
const std::string& command_line();

void add_run_command(CLI::App& root, Action& action);
void add_topo_command(CLI::App& root, Action& action);
void add_inspect_command(CLI::App& root, Action& action);
void add_version_command(CLI::App& root, Action& action);
void add_vet_prompts_command(CLI::App& root, Action& action);

}  // namespace pardit::app
