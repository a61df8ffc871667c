// Switches read from the environment (the before/after knobs of docs/performance.md).
#pragma once

#include <cstdlib>
#include <cstring>

namespace pardit {

// Whether the environment variable `name` is set to exactly `value`.
inline bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, value) == 0;
}

}  // namespace pardit
