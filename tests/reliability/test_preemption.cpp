// Preemption, resume and rank failure, driven through the real executable (docs/reliability.md).
//
// Every scenario compares against an uninterrupted run of the same job: latents must be equal
// bit for bit (CPU fp32), for the prompts finished before the stop and, after --resume, for all.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pardit/io/output_file.hpp"
#include "pardit/io/prompt_file.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace pardit;

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
std::string pardit_binary() { return env_or("PARDIT_BINARY", "pardit"); }
std::string mpiexec() { return env_or("MPIEXEC", "mpirun"); }

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurp(const fs::path& f) {
  std::ifstream in(f);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

struct Scratch {
  fs::path dir;
  Scratch() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() / ("pardit-rel-" + std::string(info->name()) + "-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    if (!::testing::Test::HasFailure()) fs::remove_all(dir);
  }
};

// A shell command in its own process group, output to `log`.
struct Process {
  pid_t pid = -1;
  fs::path log;
  Process(const std::string& command, fs::path log_file) : log(std::move(log_file)) {
    pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      const std::string full = command + " >" + quote(log.string()) + " 2>&1";
      execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // Exit status (128 + signal when killed), or -1 after `timeout` (the group is then killed).
  int wait(std::chrono::duration<double> timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < end) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(50ms);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
    pid = -1;
    return -1;
  }
  // Waits until the log holds `n` occurrences of `text`; false after `timeout` or if the process ended.
  bool wait_for_log(const std::string& text, size_t n, std::chrono::duration<double> timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (count(slurp(log), text) >= n) return true;
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return false;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  ~Process() {
    if (pid > 0) {
      kill(-pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

int run(const std::string& command, const fs::path& log) { return Process(command, log).wait(240s); }

// The job under test: flux-tiny on CPU, several prompts, enough steps for a signal to land mid-prompt.
constexpr int64_t kSteps = 5;
std::string job_options(int64_t prompts, const fs::path& out, int64_t steps = kSteps, int64_t seed = 11) {
  return "run --model flux-tiny --height 64 --width 64 --steps " + std::to_string(steps) + " --num-prompts " +
         std::to_string(prompts) + " --seed " + std::to_string(seed) + " --dtype fp32 --device cpu --out " +
         quote(out.string());
}
// Slows every step down so that a signal reliably lands in the middle of the run.
const std::string kSlowSteps = "PARDIT_TEST_STEP_DELAY_S=0.25 ";

// `pardit ARGS` under `mpirun -np N`, each rank writing its pid to DIR/pid.<rank> first (exec keeps it).
std::string under_mpirun(int np, const fs::path& dir, const std::string& env, const std::string& args) {
  const std::string rank_cmd = "echo $$ > " + quote(dir.string()) + "/pid.$OMPI_COMM_WORLD_RANK; exec env " + env +
                               quote(pardit_binary()) + " " + args;
  return "exec " + mpiexec() + " -np " + std::to_string(np) + " --oversubscribe --bind-to none sh -c " +
         quote(rank_cmd);
}

pid_t rank_pid(const fs::path& dir, int rank) {
  const fs::path f = dir / ("pid." + std::to_string(rank));
  for (int i = 0; i < 200 && !fs::exists(f); ++i) std::this_thread::sleep_for(50ms);
  return static_cast<pid_t>(std::atoll(slurp(f).c_str()));
}

// Finished prompts (all step times recorded by some rank) match the reference exactly; the others
// are zeros. Returns the number of finished prompts.
int64_t check_partial(const io::OutputData& part, const io::OutputData& reference) {
  const at::Tensor steps = part.timings.at("step_seconds");  // [world, P, steps]
  const at::Tensor finished = at::isfinite(steps).all(2).any(0);
  // The waits are recorded with the step times, or not at all (an abandoned prompt has neither).
  EXPECT_TRUE(at::equal(at::isfinite(part.timings.at("step_comm_wait_seconds")), at::isfinite(steps)));
  int64_t n = 0;
  for (int64_t p = 0; p < reference.latents.size(0); ++p) {
    if (finished[p].item<bool>()) {
      ++n;
      EXPECT_TRUE(at::equal(part.latents[p], reference.latents[p])) << "finished prompt " << p << " differs";
    } else {
      EXPECT_EQ(part.latents[p].abs().max().item<float>(), 0.0f) << "unfinished prompt " << p << " has latents";
    }
  }
  return n;
}

struct Outcome {
  int64_t finished = 0, total = 0;
};

// Stops a run of `prompts` prompts with `signal` once `steps_before` step lines are logged (to
// `targets`: which ranks get it), checks the partial file, resumes it, checks the final file.
Outcome stop_and_resume(const Scratch& s, int np, int dp, int64_t prompts, int signal, std::vector<int> targets,
                        size_t steps_before) {
  Outcome o;
  o.total = prompts;
  const std::string layout = dp > 1 ? " --dp-degree " + std::to_string(dp) : "";
  auto command = [&](const std::string& env, const std::string& args) {
    return np > 1 ? under_mpirun(np, s.dir, env, args) : "exec env " + env + quote(pardit_binary()) + " " + args;
  };
  // The uninterrupted run.
  const fs::path ref_file = s.dir / "reference.h5";
  EXPECT_EQ(run(command("", job_options(prompts, ref_file) + layout), s.dir / "reference.log"), 0)
      << slurp(s.dir / "reference.log");
  const io::OutputData reference = io::read_output(ref_file);
  EXPECT_TRUE(reference.complete);

  // The stopped run.
  const fs::path part_file = s.dir / "part.h5";
  Process job(command(kSlowSteps, job_options(prompts, part_file) + layout), s.dir / "part.log");
  EXPECT_TRUE(job.wait_for_log(" step ", steps_before, 120s)) << slurp(job.log);
  for (int r : targets) {
    const pid_t pid = np > 1 ? rank_pid(s.dir, r) : job.pid;
    EXPECT_EQ(kill(pid, signal), 0) << "rank " << r;
  }
  const int code = job.wait(120s);
  const std::string log = slurp(job.log);
  EXPECT_EQ(code, 4) << log;
  EXPECT_NE(log.find("stopping at a step boundary"), std::string::npos) << log;
  if (!fs::exists(part_file)) {
    ADD_FAILURE() << "no partial file\n" << log;
    return o;
  }
  const io::OutputData part = io::read_output(part_file);
  EXPECT_FALSE(part.complete);
  o.finished = check_partial(part, reference);
  EXPECT_GE(o.finished, 1) << log;
  EXPECT_LT(o.finished, prompts) << log;

  // Resume into the same file: complete, equal to the uninterrupted run.
  const fs::path resume_log = s.dir / "resume.log";
  EXPECT_EQ(run(command("", job_options(prompts, part_file) + layout + " --resume " + quote(part_file.string())),
                resume_log),
            0)
      << slurp(resume_log);
  EXPECT_NE(slurp(resume_log).find(std::to_string(o.finished) + " of " + std::to_string(prompts) +
                                   " prompt(s) already finished"),
            std::string::npos)
      << slurp(resume_log);
  const io::OutputData resumed = io::read_output(part_file);
  EXPECT_TRUE(resumed.complete);
  EXPECT_TRUE(at::equal(resumed.latents, reference.latents)) << "resumed latents differ from the uninterrupted run";
  EXPECT_TRUE(at::isfinite(resumed.timings.at("step_seconds")).all(2).any(0).all().item<bool>());
  EXPECT_TRUE(at::isfinite(resumed.timings.at("step_host_seconds")).all(2).any(0).all().item<bool>());
  EXPECT_TRUE(at::isfinite(resumed.timings.at("step_comm_wait_seconds")).all(2).any(0).all().item<bool>());
  return o;
}

}  // namespace

TEST(Preemption, SigtermSingleRankThenResume) {
  Scratch s;
  stop_and_resume(s, 1, 1, 4, SIGTERM, {0}, kSteps + 2);  // in the middle of the second prompt
}

TEST(Preemption, Sigusr1SingleRankThenResume) {
  Scratch s;
  stop_and_resume(s, 1, 1, 4, SIGUSR1, {0}, kSteps + 2);
}

// Slurm (srun) signals every rank; each replica stops at its own next step boundary.
TEST(Preemption, SigtermMpiDp2ThenResume) {
  Scratch s;
  stop_and_resume(s, 2, 2, 6, SIGTERM, {0, 1}, kSteps + 2);
}

// Only one rank hears the signal (a user's kill, a launcher that signals one task): the other
// replica learns it through the shared stop flag and stops too.
TEST(Preemption, Sigusr1OneRankMpiDp2) {
  Scratch s;
  stop_and_resume(s, 2, 2, 6, SIGUSR1, {1}, kSteps + 2);
}

TEST(Preemption, ResumeRefusesAnotherJob) {
  Scratch s;
  const fs::path part = s.dir / "part.h5";
  Process job("exec env " + kSlowSteps + quote(pardit_binary()) + " " + job_options(3, part), s.dir / "part.log");
  ASSERT_TRUE(job.wait_for_log(" step ", kSteps + 1, 120s)) << slurp(job.log);
  kill(job.pid, SIGTERM);
  ASSERT_EQ(job.wait(120s), 4) << slurp(job.log);
  const fs::path log = s.dir / "resume.log";
  EXPECT_EQ(run("exec " + quote(pardit_binary()) + " " + job_options(3, s.dir / "other.h5", 6, 12) + " --resume " +
                    quote(part.string()),
                log),
            2);
  const std::string text = slurp(log);
  EXPECT_NE(text.find("written by a different job"), std::string::npos) << text;
  EXPECT_NE(text.find("seed = 11 in the file, 12 now"), std::string::npos) << text;
  EXPECT_NE(text.find("steps = 5 in the file, 6 now"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(s.dir / "other.h5"));
}

// SIGKILL of one rank: every rank ends within a bound, the launcher's exit is non-zero, and no
// file claims to be complete.
TEST(Preemption, Kill9OneRankMpi) {
  Scratch s;
  const fs::path out = s.dir / "out.h5";
  Process job(under_mpirun(2, s.dir, kSlowSteps, job_options(6, out) + " --dp-degree 2 --comm-timeout-s 30"),
              s.dir / "job.log");
  ASSERT_TRUE(job.wait_for_log(" step ", kSteps + 2, 120s)) << slurp(job.log);
  const pid_t rank0 = rank_pid(s.dir, 0), rank1 = rank_pid(s.dir, 1);
  ASSERT_EQ(kill(rank1, SIGKILL), 0);
  const auto start = std::chrono::steady_clock::now();
  const int code = job.wait(90s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(code, -1) << "mpirun still running after 90 s\n" << slurp(job.log);
  EXPECT_NE(code, 0) << slurp(job.log);
  EXPECT_LT(seconds, 60.0);
  // Gone, or a zombie waiting for a reaper (a container's PID 1 may never reap it).
  auto alive = [](pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_field, comm, state;
    if (!(stat >> pid_field >> comm >> state)) return false;
    return state != "Z" && state != "X";
  };
  for (int i = 0; i < 100 && alive(rank0); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(alive(rank0)) << "rank 0 still running after mpirun ended";
  if (fs::exists(out)) EXPECT_FALSE(io::read_output(out).complete);
  for (const auto& e : fs::directory_iterator(s.dir))
    EXPECT_EQ(e.path().filename().string().find("out.h5.tmp"), std::string::npos) << "temporary file left behind";
}

// A NaN in the initial noise of prompt 1 is reported with the prompt and the step, exit 1.
TEST(Numerics, NanInInitialNoiseNamesPromptAndStep) {
  Scratch s;
  io::PromptSet set;
  const int64_t P = 2;
  set.prompt_embeds = at::randn({P, 32, 64});
  set.pooled_prompt_embeds = at::randn({P, 32});
  set.initial_noise = at::randn({P, 16, 8, 8});
  set.initial_noise[1][3][2][5] = std::nanf("");
  const fs::path prompts = s.dir / "prompts.h5";
  io::write_prompt_file(prompts, set);
  const fs::path log = s.dir / "nan.log";
  const int code = run("exec " + quote(pardit_binary()) + " run --model flux-tiny --height 64 --width 64 --steps 3 --prompts " +
                           quote(prompts.string()) + " --out " + quote((s.dir / "out.h5").string()),
                       log);
  const std::string text = slurp(log);
  EXPECT_EQ(code, 1) << text;
  EXPECT_NE(text.find("prompt 1 (seed 1): NaN/Inf in the input latents at step 1/3"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(s.dir / "out.h5"));
}

// `pardit vet-prompts` (what `run` runs in a checking process before reading a prompt file):
// exit 0 and a summary for a usable file, exit 2 and the reader's message for a mismatched one.
TEST(PromptFiles, VetPromptsSaysWhetherAFileIsUsable) {
  Scratch s;
  io::PromptSet set;
  set.prompt_embeds = at::randn({2, 32, 64});
  set.pooled_prompt_embeds = at::randn({2, 32});
  const fs::path prompts = s.dir / "prompts.h5";
  io::write_prompt_file(prompts, set);
  const std::string vet = "exec " + quote(pardit_binary()) + " vet-prompts " + quote(prompts.string());
  const fs::path ok_log = s.dir / "ok.log", bad_log = s.dir / "bad.log";
  EXPECT_EQ(run(vet + " --joint-attention-dim 64 --pooled-projection-dim 32 --latent-height 8 --latent-width 8", ok_log),
            0)
      << slurp(ok_log);
  EXPECT_NE(slurp(ok_log).find("2 prompt(s), 32 text tokens"), std::string::npos) << slurp(ok_log);
  EXPECT_EQ(run(vet + " --joint-attention-dim 4096 --pooled-projection-dim 32", bad_log), 2) << slurp(bad_log);
  EXPECT_NE(slurp(bad_log).find("4096"), std::string::npos) << slurp(bad_log);
}

// Out of memory (here the CPU allocator under `ulimit -v`; on a GPU c10::OutOfMemoryError) is
// reported with the rank and what to change, exit 1.
TEST(Numerics, OutOfMemoryNamesRankAndRemedies) {
  Scratch s;
  const fs::path log = s.dir / "oom.log";
  const int code = run("ulimit -v 1500000; OMP_NUM_THREADS=1 exec " + quote(pardit_binary()) +
                           " run --model flux-tiny --height 8192 --width 8192 --steps 1 --num-prompts 1 --out " +
                           quote((s.dir / "out.h5").string()),
                       log);
  const std::string text = slurp(log);
  EXPECT_EQ(code, 1) << text;
  EXPECT_NE(text.find("out of memory on rank 0 (cpu) while denoising prompt 0"), std::string::npos) << text;
  EXPECT_NE(text.find("--dtype bf16"), std::string::npos) << text;
  EXPECT_NE(text.find("--ulysses-degree"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(s.dir / "out.h5"));
}
