#include "pardit/common/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "pardit/common/error.hpp"

namespace pardit::log {
namespace {
int g_rank = 0;

Level threshold() {
  static const Level level = [] {
    const char* env = std::getenv("PARDIT_LOG_LEVEL");
    if (!env) return Level::info;
    if (!std::strcmp(env, "debug")) return Level::debug;
    if (!std::strcmp(env, "warn")) return Level::warn;
    if (!std::strcmp(env, "error")) return Level::error;
    return Level::info;
  }();
  return level;
}
}  // namespace

void set_rank(int rank) { g_rank = rank; }

void write(Level level, const std::string& message) {
  if (level < threshold()) return;
  if (level <= Level::info && g_rank != 0) return;  // info/debug: rank 0 speaks for the job
  static std::mutex mutex;
  static const char* names[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "[pardit %s] %s%s%s\n", error_identity().c_str(),
               level >= Level::warn ? names[static_cast<int>(level)] : "", level >= Level::warn ? ": " : "",
               message.c_str());
  std::fflush(stderr);
}

}  // namespace pardit::log
