// Running the pardit executable from the e2e tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace pardit::e2e {

using pardit::test::CommandResult;
using pardit::test::read_file;
using pardit::test::run_command;
using pardit::test::shell_quote;
using pardit::test::TempDir;
using pardit::test::write_file;
namespace fs = std::filesystem;

// The executable under test (ctest sets PARDIT_BINARY).
inline std::string pardit_binary() {
  const char* b = std::getenv("PARDIT_BINARY");
  return b ? b : "pardit";
}

// `pardit ARGS` in directory `cwd`; ARGS is pasted into a shell command line as is, `env`
// ("NAME=value ...") before the command.
inline CommandResult run_pardit(const std::string& args, const fs::path& cwd, const std::string& env = "") {
  return run_command("cd " + shell_quote(cwd.string()) + " && " + env + shell_quote(pardit_binary()) + " " + args);
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Files directly in `dir` (names only), to check that a failed run left nothing behind.
inline std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// python3 with these modules, or the test is skipped with a reason.
#define PARDIT_REQUIRE_PYTHON(modules)                                                          \
  do {                                                                                          \
    if (!::pardit::test::python_has(modules)) GTEST_SKIP() << "python3 with " modules " not available"; \
  } while (0)

}  // namespace pardit::e2e
