// One family of errors and checks for all of pardit.
//
// Library code throws; only main() turns an exception into a message, an exit code and, when
// other ranks may be waiting in a collective, MPI_Abort. Messages carry file:line and the
// identity of the rank (host, rank) so a line in a 512-rank log says where it came from.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace pardit {

// Process exit codes, documented in docs/exit-codes.md.
enum class ExitCode : int {
  ok = 0,
  runtime_failure = 1,  // a bug, a library failure, out of memory, NaN in latents ...
  bad_input = 2,        // config, CLI, weights, prompt file, output path: fix the input
  comm_failure = 3,     // a peer rank died, stalled past the deadline, or a collective failed
  preempted = 4,        // stopped by SIGTERM/SIGUSR1 at a step boundary; partial file written
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// The user can fix it: a wrong option, a corrupt file, an impossible parallel layout.
class InputError : public Error {
 public:
  explicit InputError(const std::string& what) : Error(ExitCode::bad_input, what) {}
};

// Communication failed or timed out; every rank must leave.
class CommError : public Error {
 public:
  explicit CommError(const std::string& what) : Error(ExitCode::comm_failure, what) {}
};

// "host:rank N" once bootstrap knows it, "local" before.
void set_error_identity(const std::string& host, int rank);
const std::string& error_identity();

namespace detail {
[[noreturn]] void throw_runtime(const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace pardit

// Bad user input: message says what is wrong and how to fix it.
#define PARDIT_INPUT_CHECK(cond, ...)                                   \
  do {                                                                  \
    if (!(cond)) throw ::pardit::InputError(fmt::format(__VA_ARGS__));  \
  } while (0)

// Internal invariant or library failure.
#define PARDIT_CHECK(cond, ...)                                                       \
  do {                                                                                \
    if (!(cond)) ::pardit::detail::throw_runtime(__FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)
