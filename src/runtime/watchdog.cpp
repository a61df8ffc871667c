#include "pardit/runtime/watchdog.hpp"

#include <future>
#include <memory>
#include <vector>

#include "pardit/common/error.hpp"
#include "pardit/runtime/abort.hpp"

namespace pardit::runtime {
namespace {
constexpr std::chrono::seconds kOnFailureBound{2};
}  // namespace

Watchdog::Watchdog(std::chrono::milliseconds period, Fatal fatal) : period_(period), fatal_(std::move(fatal)) {
  if (!fatal_) fatal_ = [](const std::string& message) { abort_job(CommError(message), ExitCode::comm_failure); };
  thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int Watchdog::watch(Poll poll, OnFailure on_failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_[next_id_] = Entry{std::move(poll), std::move(on_failure)};
  return next_id_++;
}

void Watchdog::unwatch(int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.erase(id);
}

Watchdog& Watchdog::global() {
  // Leaked on purpose: destroying it at exit would race with static destructors of the watched.
  static Watchdog* instance = new Watchdog();
  return *instance;
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, period_, [this] { return stop_; });
    if (stop_) break;
    // Poll under the lock: unwatch() then cannot return while its entry is being polled, so the
    // watched object may be destroyed right after unwatch().
    for (auto& [id, entry] : entries_) {
      std::optional<std::string> problem;
      try {
        problem = entry.poll();
      } catch (const std::exception& e) {
        problem = e.what();
      }
      if (!problem) continue;
      if (entry.on_failure) {
        // Bounded: ncclCommAbort can block for good when the stream it would drain waits on a
        // stalled peer (seen with copy-engine all-to-alls on H200), and the job must still end.
        // Past the bound the thread is left running while fatal() ends the process (abort_job's
        // MPI_Abort); until then it may still use the watched object, so a Fatal that returns
        // (tests) must keep that object alive.
        auto finished = std::make_shared<std::promise<void>>();
        std::future<void> done = finished->get_future();
        std::thread([on_failure = entry.on_failure, finished] {
          try {
            on_failure();
          } catch (...) {
          }
          finished->set_value();
        }).detach();
        done.wait_for(kOnFailureBound);
      }
      auto fatal = fatal_;
      const std::string message = *problem;
      entries_.erase(id);
      lock.unlock();
      fatal(message);
      lock.lock();
      break;  // entries_ changed
    }
  }
}

}  // namespace pardit::runtime
