// How a rank leaves when something went wrong (the `error->one` of LAMMPS).
#pragma once

#include <exception>

#include "pardit/common/error.hpp"

namespace pardit::runtime {

// Prints one line "pardit: FATAL (<kind>, exit <code>) <what>" to stderr and ends the whole job:
// MPI_Abort(MPI_COMM_WORLD, code) when MPI runs with more than one rank (mpirun / srun then kill
// every other rank, and the job's exit code is non-zero so Slurm reports FAILED), else exit(code).
// Called by main() for any exception, and by the NCCL watchdog thread. Any one rank may call it.
[[noreturn]] void abort_job(const std::exception& error, ExitCode code);
// The exit code an exception maps to: pardit::Error's code, else runtime_failure.
ExitCode exit_code_of(const std::exception& error);

// SIGSEGV/SIGBUS/SIGFPE/SIGABRT/SIGILL print "pardit: rank R on HOST died on signal N" before the
// default action, so a crashed rank is named in the job log next to the launcher's own message.
void install_fatal_signal_handlers(const std::string& host, int world_rank);

}  // namespace pardit::runtime
