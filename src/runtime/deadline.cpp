#include "pardit/runtime/deadline.hpp"

#include <atomic>
#include <cstdlib>
#include <thread>

#include "pardit/comm/checks.hpp"

namespace pardit::runtime {
namespace {

double timeout_from_environment() {
  if (const char* text = std::getenv("PARDIT_COMM_TIMEOUT_S")) {
    char* end = nullptr;
    double value = std::strtod(text, &end);
    PARDIT_INPUT_CHECK(end != text && *end == '\0' && value > 0,
                       "PARDIT_COMM_TIMEOUT_S='{}' is not a positive number of seconds", text);
    return value;
  }
  return 300.0;
}

std::atomic<double>& timeout_storage() {
  static std::atomic<double> seconds{timeout_from_environment()};
  return seconds;
}

}  // namespace

double comm_timeout_seconds() { return timeout_storage().load(); }

void set_comm_timeout_seconds(double seconds) {
  PARDIT_INPUT_CHECK(seconds > 0, "communication timeout must be positive, got {}", seconds);
  timeout_storage().store(seconds);
}

bool wait_with_deadline(MPI_Request* requests, int count, double timeout_seconds) {
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(timeout_seconds));
  // Spin for the first ~100 us (latency of small messages), then back off to at most 1 ms sleeps
  // so a waiting rank does not steal the core of a computing one.
  auto pause = std::chrono::microseconds(0);
  for (;;) {
    int done = 0;
    MPI_CHECK(MPI_Testall(count, requests, &done, MPI_STATUSES_IGNORE));
    if (done) return true;
    const auto now = Clock::now();
    if (now >= deadline) return false;
    if (now - start > std::chrono::microseconds(100)) {
      pause = std::min(std::chrono::microseconds(1000), pause + std::chrono::microseconds(20));
      std::this_thread::sleep_for(pause);
    }
  }
}

void wait_or_throw(MPI_Request* requests, int count, const std::string& what) {
  const double timeout = comm_timeout_seconds();
  if (!wait_with_deadline(requests, count, timeout))
    throw CommError(fmt::format("{}: {} timed out after {} s (PARDIT_COMM_TIMEOUT_S): another rank stalled "
                                "or died",
                                error_identity(), what, timeout));
}

void deadline_barrier(MPI_Comm comm, const std::string& what) {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Ibarrier(comm, &request));
  wait_or_throw(&request, 1, what);
}

}  // namespace pardit::runtime
