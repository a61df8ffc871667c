// The watchdog calls on_failure then the fatal action for the first failing poll, and never after
// unwatch().
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "pardit/runtime/watchdog.hpp"

using namespace std::chrono_literals;
using pardit::runtime::Watchdog;

TEST(Watchdog, FailingPollAbortsThenCallsFatal) {
  std::atomic<int> polls{0};
  std::atomic<bool> aborted{false};
  std::string fatal_message;
  std::atomic<bool> fatal_called{false};
  Watchdog dog(5ms, [&](const std::string& m) {
    EXPECT_TRUE(aborted.load());  // on_failure first (ncclCommAbort), then the job abort
    fatal_message = m;
    fatal_called = true;
  });
  dog.watch(
      [&]() -> std::optional<std::string> {
        if (++polls < 3) return std::nullopt;
        return std::string("all_reduce #7 on ring group did not complete");
      },
      [&] { aborted = true; });
  for (int i = 0; i < 400 && !fatal_called; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(fatal_called.load());
  EXPECT_EQ(fatal_message, "all_reduce #7 on ring group did not complete");
}

TEST(Watchdog, UnwatchedEntriesAreNotPolled) {
  std::atomic<int> polls{0};
  Watchdog dog(2ms, [](const std::string&) { ADD_FAILURE() << "fatal called"; });
  const int id = dog.watch([&]() -> std::optional<std::string> {
    ++polls;
    return std::nullopt;
  });
  std::this_thread::sleep_for(30ms);
  dog.unwatch(id);
  const int after = polls.load();
  EXPECT_GT(after, 0);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(polls.load(), after);
}
