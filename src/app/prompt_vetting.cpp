#include "prompt_vetting.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pardit/common/error.hpp"
#include "pardit/common/log.hpp"

extern char** environ;

namespace pardit::app {

double prompt_vetting_timeout_seconds(const std::filesystem::path& file) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(file, ec);
  return 60.0 + (ec ? 0.0 : static_cast<double>(bytes) / 1e9 * 20.0);
}

void vet_prompt_file(const std::filesystem::path& file, const io::PromptFileShape& expect) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    log::warn("cannot find pardit's own executable ({}): reading {} without a checking process", ec.message(),
              file.string());
    return;
  }
  std::vector<std::string> args{self.string(),
                                "vet-prompts",
                                file.string(),
                                "--joint-attention-dim",
                                std::to_string(expect.joint_attention_dim),
                                "--pooled-projection-dim",
                                std::to_string(expect.pooled_projection_dim),
                                "--latent-channels",
                                std::to_string(expect.latent_channels),
                                "--latent-height",
                                std::to_string(expect.latent_height),
                                "--latent-width",
                                std::to_string(expect.latent_width)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    log::warn("cannot start a checking process ({}): reading {} without one", std::strerror(spawned),
              file.string());
    return;
  }

  const double limit = prompt_vetting_timeout_seconds(file);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      log::warn("lost the checking process of {} ({}): reading it without one", file.string(), std::strerror(errno));
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      throw InputError(fmt::format(
          "prompt file {}: reading it did not finish within {:.0f} s (in a checking process, before any work); a "
          "damaged HDF5 file can make the HDF5 library loop. Check the file with h5dump or write it again "
          "(scripts/encode_prompts.py)",
          file.string(), limit));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2))
    return;  // read back, or refused with a message the caller's own read repeats
  const std::string how = WIFSIGNALED(status) ? fmt::format("it died on signal {} ({})", WTERMSIG(status),
                                                            strsignal(WTERMSIG(status)))
                                              : fmt::format("it exited with status {}", WEXITSTATUS(status));
  throw InputError(fmt::format(
      "prompt file {} is damaged: reading it crashed the HDF5 library in a checking process ({}), before any work. "
      "Check the file with h5dump or write it again (scripts/encode_prompts.py)",
      file.string(), how));
}

}  // namespace pardit::app
