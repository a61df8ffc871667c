// Helpers shared by the io tests: a scratch directory, running python3, catching InputError.
#pragma once

#include "pardit/common/error.hpp"
#include "test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace pardit::io::test {

using TempDir = pardit::test::TempDir;  // tests/common

inline void write_bytes(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs `script` with python3; returns its exit status (0 on success). Output goes to the test log.
inline int run_python(const TempDir& dir, const std::string& script) {
  auto file = dir / "check.py";
  write_bytes(file, script);
  int status = std::system(("python3 " + file.string()).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs `command`, returns its stdout (stderr is merged).
inline std::string run_capture(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

// The message of the InputError thrown by f; fails the test when f throws nothing or another type.
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const pardit::InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return "";
}

}  // namespace pardit::io::test
