// The watchdog calls on_failure then the fatal action for the first failing poll, and never after
// unwatch().
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
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

// An on_failure that never returns (ncclCommAbort draining a stream stuck on a stalled peer) must
// not keep the job from ending: the fatal action follows within the 2 s bound.
TEST(Watchdog, BlockedOnFailureDoesNotHoldTheAbort) {
  auto release = std::make_shared<std::atomic<bool>>(false);  // shared with the detached thread
  std::atomic<bool> fatal_called{false};
  Watchdog dog(5ms, [&](const std::string&) { fatal_called = true; });
  dog.watch([]() -> std::optional<std::string> { return std::string("all_to_all #3 did not complete"); },
            [release] {
              while (!*release) std::this_thread::sleep_for(1ms);
            });
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000 && !fatal_called; ++i) std::this_thread::sleep_for(5ms);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(fatal_called.load());
  EXPECT_LT(waited, 4s);
  EXPECT_GE(waited, 1900ms);  // it did wait for on_failure first
  *release = true;
}
