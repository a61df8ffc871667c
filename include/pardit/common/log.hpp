// Rank-aware logging to stderr: "[pardit host:rank N] message". Rank 0 prints info by default;
// every rank prints warnings and errors. Level from PARDIT_LOG_LEVEL (debug|info|warn|error).
#pragma once

#include <fmt/format.h>

#include <string>

namespace pardit::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_rank(int rank);  // before: rank unknown, treated as 0
void write(Level level, const std::string& message);

template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) { write(Level::info, fmt::format(f, std::forward<Args>(args)...)); }
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) { write(Level::warn, fmt::format(f, std::forward<Args>(args)...)); }
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) { write(Level::error, fmt::format(f, std::forward<Args>(args)...)); }
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) { write(Level::debug, fmt::format(f, std::forward<Args>(args)...)); }

}  // namespace pardit::log
