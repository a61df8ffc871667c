// A background thread that turns silent failures into a job abort.
//
// Used by the NCCL communicator: NCCL kernels run asynchronously, so an error or a stalled peer shows
// up in no host call. Each watched object registers a poll function; the watchdog calls every poll
// function every `period`. A poll returns an error message (an async NCCL error, an operation past
// its deadline) or nothing; on the first message the watchdog runs that entry's `on_failure` (e.g.
// ncclCommAbort, which also frees a main thread blocked on the stream), waiting for it at most 2 s
// (it can block for good itself), and then abort_job() with a CommError, so every rank leaves even
// when the main thread is stuck.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace pardit::runtime {

class Watchdog {
 public:
  using Poll = std::function<std::optional<std::string>()>;
  using OnFailure = std::function<void()>;
  // What happens after on_failure; abort_job by default, replaceable for tests.
  using Fatal = std::function<void(const std::string& message)>;

  explicit Watchdog(std::chrono::milliseconds period = std::chrono::milliseconds(100), Fatal fatal = {});
  ~Watchdog();  // stops and joins the thread
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Returns an id for unwatch(). Thread-safe.
  int watch(Poll poll, OnFailure on_failure = {});
  void unwatch(int id);

  // The process-wide instance used by communicators (started on first use).
  static Watchdog& global();

 private:
  void loop();

  struct Entry {
    Poll poll;
    OnFailure on_failure;
  };
  std::chrono::milliseconds period_;
  Fatal fatal_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<int, Entry> entries_;
  int next_id_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pardit::runtime
