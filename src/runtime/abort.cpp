#include "pardit/runtime/abort.hpp"

#include <mpi.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <mutex>
#include <string>

namespace pardit::runtime {
namespace {

const char* kind_of(ExitCode code) {
  switch (code) {
    case ExitCode::ok: return "ok";
    case ExitCode::runtime_failure: return "runtime failure";
    case ExitCode::bad_input: return "bad input";
    case ExitCode::comm_failure: return "communication failure";
    case ExitCode::preempted: return "preempted";
  }
  return "failure";
}

// Filled once by install_fatal_signal_handlers; the handler only reads it (async-signal-safe).
char g_signal_prefix[256] = "pardit: rank ? died on signal ";

void on_fatal_signal(int signal_number) {
  char line[320];
  size_t n = strlen(g_signal_prefix);
  memcpy(line, g_signal_prefix, n);
  // signal numbers are < 100
  if (signal_number >= 10) line[n++] = static_cast<char>('0' + signal_number / 10);
  line[n++] = static_cast<char>('0' + signal_number % 10);
  line[n++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, line, n);
  (void)ignored;
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

}  // namespace

ExitCode exit_code_of(const std::exception& error) {
  if (const auto* e = dynamic_cast<const Error*>(&error)) return e->code();
  return ExitCode::runtime_failure;
}

void abort_job(const std::exception& error, ExitCode code) {
  // Two threads (main and the NCCL watchdog) may fail at once: one message, one abort.
  static std::mutex once;
  once.lock();
  const int exit_code = static_cast<int>(code);
  std::string what = error.what();
  // One line: the launcher interleaves many ranks' output.
  for (char& c : what)
    if (c == '\n') c = ' ';
  // Messages from pardit's checks already start with "host:rank N"; others get it added.
  const std::string& who = error_identity();
  if (what.rfind(who, 0) == 0) what = what.substr(std::min(what.size(), who.size() + 1));
  while (!what.empty() && (what.front() == ' ' || what.front() == ':')) what.erase(0, 1);
  std::fprintf(stderr, "pardit: FATAL (%s, exit %d) [%s] %s\n", kind_of(code), exit_code, who.c_str(),
               what.c_str());
  std::fflush(stderr);
  std::fflush(stdout);

  int initialized = 0, finalized = 0, world_size = 1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    // Other ranks may be blocked in a collective with us: only MPI_Abort frees them.
    if (world_size > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
  }
  std::_Exit(exit_code);
}

void install_fatal_signal_handlers(const std::string& host, int world_rank) {
  std::snprintf(g_signal_prefix, sizeof(g_signal_prefix), "pardit: rank %d on %s died on signal ", world_rank,
                host.c_str());
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(s, on_fatal_signal);
}

}  // namespace pardit::runtime
