#include "pardit/runtime/signals.hpp"

#include <atomic>
#include <csignal>

namespace pardit::runtime {
namespace {

// Lock-free atomics are async-signal-safe; plain ints set from a handler need volatile
// sig_atomic_t and would not be safely visible to other threads.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int signal_number) {
  // The first signal wins; later ones (Slurm's SIGTERM after an earlier USR1) change nothing.
  // What ends a rank that does not stop in time is Slurm's SIGKILL after KillWait.
  int expected = 0;
  g_stop_signal.compare_exchange_strong(expected, signal_number);
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking calls (MPI progress, file I/O) resume after the handler
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool stop_requested() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }

int stop_signal() { return g_stop_signal.load(std::memory_order_relaxed); }

void request_stop(int signal_number) {
  int expected = 0;
  g_stop_signal.compare_exchange_strong(expected, signal_number);
}

}  // namespace pardit::runtime
