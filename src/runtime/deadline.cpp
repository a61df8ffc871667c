#include "pardit/runtime/deadline.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
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

struct WorldIdentity {
  std::mutex mutex;
  MPI_Comm diag = MPI_COMM_NULL;
  std::vector<std::string> node_names;
  long long operations = 0;  // world-level bounded waits so far (the diagnosis compares them)
};
WorldIdentity& world_identity() {
  static WorldIdentity identity;
  return identity;
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
  auto& world = world_identity();
  const long long operation = ++world.operations;
  const double timeout = comm_timeout_seconds();
  if (wait_with_deadline(requests, count, timeout)) return;
  std::string suspects = "another rank stalled or died";
  if (world.diag != MPI_COMM_NULL) {
    const StallDiagnosis d = diagnose_stall(world.diag, operation);
    std::vector<std::string> silent, elsewhere;
    for (int r : d.silent) silent.push_back(fmt::format("rank {} ({})", r, node_name_of_world_rank(r)));
    for (auto [r, op] : d.elsewhere)
      elsewhere.push_back(fmt::format("rank {} ({}) at world operation #{}", r, node_name_of_world_rank(r), op));
    suspects.clear();
    if (!silent.empty()) suspects = fmt::format("no answer from {}: stalled or dead", fmt::join(silent, ", "));
    if (!elsewhere.empty())
      suspects += fmt::format("{}{} (this rank at #{})", suspects.empty() ? "" : "; ", fmt::join(elsewhere, ", "),
                              operation);
    if (suspects.empty()) suspects = "every rank answered: one is slower than the deadline allows";
  }
  throw CommError(fmt::format("{}: {} (world operation #{}) timed out after {} s (PARDIT_COMM_TIMEOUT_S); {}",
                              error_identity(), what, operation, timeout, suspects));
}

StallDiagnosis diagnose_stall(MPI_Comm diag_comm, long long my_operation) {
  constexpr int kDiagTag = 77;
  int n = 0, me = 0;
  MPI_Comm_size(diag_comm, &n);
  MPI_Comm_rank(diag_comm, &me);
  const double grace = std::clamp(comm_timeout_seconds() / 2, 0.2, 10.0);
  std::vector<long long> theirs(static_cast<size_t>(n), -1);
  std::vector<MPI_Request> sends, recvs(static_cast<size_t>(n), MPI_REQUEST_NULL);
  for (int r = 0; r < n; ++r) {
    if (r == me) continue;
    MPI_Request s = MPI_REQUEST_NULL;
    if (MPI_Isend(&my_operation, 1, MPI_LONG_LONG, r, kDiagTag, diag_comm, &s) == MPI_SUCCESS) sends.push_back(s);
    MPI_Irecv(&theirs[static_cast<size_t>(r)], 1, MPI_LONG_LONG, r, kDiagTag, diag_comm, &recvs[static_cast<size_t>(r)]);
  }
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(grace));
  while (Clock::now() < until) {
    int done = 0;
    MPI_Testall(n, recvs.data(), &done, MPI_STATUSES_IGNORE);
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  StallDiagnosis result;
  for (int r = 0; r < n; ++r) {
    if (r == me) continue;
    int arrived = 1;
    if (recvs[static_cast<size_t>(r)] != MPI_REQUEST_NULL) MPI_Test(&recvs[static_cast<size_t>(r)], &arrived, MPI_STATUS_IGNORE);
    if (!arrived)
      result.silent.push_back(r);
    else if (theirs[static_cast<size_t>(r)] != my_operation)
      result.elsewhere.emplace_back(r, theirs[static_cast<size_t>(r)]);
  }
  // The pending requests are abandoned on purpose: the job is about to be aborted.
  return result;
}

void set_world_identity(MPI_Comm diag_world, std::vector<std::string> node_names) {
  auto& world = world_identity();
  std::lock_guard<std::mutex> lock(world.mutex);
  world.diag = diag_world;
  world.node_names = std::move(node_names);
}

std::string node_name_of_world_rank(int world_rank) {
  auto& world = world_identity();
  std::lock_guard<std::mutex> lock(world.mutex);
  if (world_rank < 0 || world_rank >= static_cast<int>(world.node_names.size())) return "?";
  return world.node_names[static_cast<size_t>(world_rank)];
}

void deadline_barrier(MPI_Comm comm, const std::string& what) {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Ibarrier(comm, &request));
  wait_or_throw(&request, 1, what);
}

}  // namespace pardit::runtime
