// Helpers shared by tests/model, tests/pipeline and tests/e2e.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace pardit::test {

// A fresh directory under /tmp, removed with everything in it when the test ends.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "pardit-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
    const char* made = ::mkdtemp(tmpl.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Single-quotes `s` for /bin/sh.
inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;  // the process's exit status; 128 + signal when killed
  std::string output;  // stdout and stderr, interleaved
};

// Runs `command` with /bin/sh (stderr folded into stdout) and waits for it.
inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen(("( " + command + " ) 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    r.exit_code = 128 + WTERMSIG(status);
  return r;
}

// Runs a Python script (written to a file in `dir`) with python3; its output and exit status.
inline CommandResult run_python(const std::filesystem::path& dir, const std::string& script,
                                const std::string& args = "") {
  const auto file = dir / "script.py";
  write_file(file, script);
  return run_command("python3 " + shell_quote(file.string()) + " " + args);
}

inline bool python_has(const std::string& modules) {
  return run_command("python3 -c 'import " + modules + "' >/dev/null 2>&1").exit_code == 0;
}

// The repository root (ctest sets PARDIT_SOURCE_DIR; fall back to the compile-time path).
inline std::filesystem::path source_dir() {
  if (const char* s = std::getenv("PARDIT_SOURCE_DIR")) return s;
#ifdef PARDIT_TEST_SOURCE_DIR
  return PARDIT_TEST_SOURCE_DIR;
#else
  return std::filesystem::current_path();
#endif
}

}  // namespace pardit::test
