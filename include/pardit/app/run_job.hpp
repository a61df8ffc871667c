// `pardit run`: one job end to end (DESIGN.md §1 stages 1-8) for the calling rank.
#pragma once

#include <string>

#include "pardit/io/run_config.hpp"

namespace pardit::runtime {
class MpiSession;
}

namespace pardit::app {

// Collective over the world: every rank calls it with the same config. Returns the exit code
// (0, or ExitCode::preempted); errors are thrown (InputError before any model work).
int run_job(const io::RunConfig& config, const std::string& command_line, runtime::MpiSession& session);

}  // namespace pardit::app
