#include "pardit/app/run_job.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <array>
#include <chrono>
#include <csignal>
#include <ctime>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "job_guards.hpp"
#include "job_output.hpp"
#include "job_plan.hpp"
#include "job_resume.hpp"
#include "pardit/app/build_info.hpp"
#include "pardit/comm/comm_groups.hpp"
#include "pardit/comm/mpi_communicator.hpp"
#include "pardit/common/error.hpp"
#include "pardit/common/log.hpp"
#include "pardit/io/output_file.hpp"
#include "pardit/io/weights.hpp"
#include "pardit/model/weights.hpp"
#include "pardit/parallel/predictor.hpp"
#include "pardit/parallel/prompt_queue.hpp"
#include "pardit/pipeline/conditioning.hpp"
#include "pardit/runtime/abort.hpp"
#include "pardit/runtime/deadline.hpp"
#include "pardit/runtime/device.hpp"
#include "pardit/runtime/mpi_session.hpp"
#include "pardit/runtime/signals.hpp"
#include "pardit/runtime/topology.hpp"
#include "peak_memory.hpp"
#include "step_profiler.hpp"

namespace pardit::app {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs `check` on the ranks it applies to; if any rank throws an InputError, every rank throws
// the same error (the lowest failing rank's message), so the job ends cleanly with exit code 2
// instead of one rank aborting the others. Collective over the world.
template <class F>
void check_on_all_ranks(MPI_Comm world, F&& check) {
  std::string message;
  try {
    check();
  } catch (const InputError& e) {
    message = e.what();
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(world, &rank);
  MPI_Comm_size(world, &size);
  int failing = message.empty() ? size : rank, first = size;
  MPI_Allreduce(&failing, &first, 1, MPI_INT, MPI_MIN, world);
  if (first == size) return;
  int len = static_cast<int>(message.size());
  MPI_Bcast(&len, 1, MPI_INT, first, world);
  message.resize(static_cast<size_t>(len));
  MPI_Bcast(message.data(), len, MPI_CHAR, first, world);
  throw InputError(message);
}

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "bf16") return at::kBFloat16;
  if (name == "fp16") return at::kHalf;
  return at::kFloat;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Thrown from the step callback when the replica agreed to stop: abandons the prompt in flight.
struct StopAtStepBoundary {};

const char* signal_name(int s) { return s == SIGTERM ? "SIGTERM" : s == SIGUSR1 ? "SIGUSR1" : "a signal"; }

std::string format_eta(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  return fmt::format("{:02d}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
}

}  // namespace

int run_job(const io::RunConfig& config, const std::string& command_line, runtime::MpiSession& session) {
  const auto job_start = Clock::now();
  const int rank = session.world_rank(), world = session.world_size();
  set_error_identity(session.node_name(), rank);
  log::set_rank(rank);
  runtime::install_fatal_signal_handlers(session.node_name(), rank);
  runtime::install_stop_signal_handlers();  // SIGTERM/SIGUSR1: stop at a step boundary (docs/reliability.md)
  runtime::set_comm_timeout_seconds(config.comm_timeout_s);

  // 1-3: everything that can be refused without weights: config, model, degrees, prompts, output path.
  JobPlan plan;
  check_on_all_ranks(session.world(), [&] { plan = plan_job(config, world); });
  check_on_all_ranks(session.world(), [&] {
    if (rank == 0) io::check_output_path(config.out, config.overwrite || resume_replaces_output(config));
  });
  // --resume: rank 0 reads and checks the earlier file; every rank learns which prompts are done.
  PreviousRun previous;
  check_on_all_ranks(session.world(), [&] {
    if (rank == 0 && !config.resume.empty()) previous = read_previous_run(config, plan.num_prompts, plan.latent_shape);
  });
  std::unique_ptr<StepProfiler> profiler;  // PARDIT_PROFILE
  check_on_all_ranks(session.world(), [&] { profiler = std::make_unique<StepProfiler>(rank, config.steps); });
  if (!config.resume.empty()) {
    previous.done.resize(static_cast<size_t>(plan.num_prompts));
    MPI_Bcast(previous.done.data(), static_cast<int>(previous.done.size()), MPI_UINT8_T, 0, session.world());
  }
  const std::string effective = io::to_toml(config);
  log::info("pardit {} ({}), {} rank(s), MPI thread level {}\n# effective configuration\n{}", kVersion,
            kGitRevision, world, session.thread_level_name(), effective);

  // 4: topology, placement, communicators.
  int gpu = -1;
  if (config.device == "cuda") {
    PARDIT_INPUT_CHECK(kHaveCuda, "--device cuda: this pardit was built without CUDA; rebuild on a machine with "
                                  "the CUDA toolkit, NCCL and a GPU driver, or use --device cpu");
    gpu = runtime::select_device(session);
    PARDIT_INPUT_CHECK(gpu >= 0, "--device cuda but no GPU is visible to rank {}", rank);
  }
  runtime::Topology topo = runtime::gather_topology(session, gpu);
  runtime::Mesh mesh = runtime::Mesh::place(plan.parallel, topo);
  log::info("placement:\n{}", mesh.describe());
  for (const auto& w : mesh.cross_node_warnings()) log::warn("{}", w);
  comm::CommGroups groups(mesh, topo, rank, gpu >= 0 ? comm::Backend::nccl : comm::Backend::mpi);
  std::unique_ptr<comm::MpiCommunicator> host_world = comm::MpiCommunicator::world(topo);

  // 5: the model.
  const at::Device device = gpu >= 0 ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(gpu)) : at::Device(at::kCPU);
  const at::ScalarType dtype = parse_dtype(config.dtype);
  const auto weights_start = Clock::now();
  model::FluxTransformer model(plan.model);
  try {
    if (config.weights.empty()) {
      model::init_random(model, config.weights_seed, dtype, device);
    } else {
      io::WeightSource src = io::load_weights(config.weights);
      model::bind_weights(model, src.tensors, dtype, device);
    }
  } catch (const std::exception& e) {
    if (!is_out_of_memory(e)) throw;
    throw Error(ExitCode::runtime_failure, out_of_memory_message(e, config, rank, device.str(), "loading the weights"));
  }
  const double weights_seconds = seconds_since(weights_start);
  log::info("model {} ({} parameters, {} on {}) ready in {:.1f} s", plan.model.name, model.num_parameters(),
            config.dtype, device.str(), weights_seconds);

  // 6-7: denoise prompts as this rank's replica takes them from the shared queue (data parallel).
  const int replica = mesh.coords(rank)[static_cast<size_t>(runtime::Axis::dp)];

  parallel::arrange_model(model, plan.parallel);
  parallel::PredictorSetup setup{&model, &mesh, &groups, rank, plan.latent_shape, plan.text_tokens};
  auto parallel_predictor = parallel::make_predictor(setup);
  FiniteCheckingPredictor predictor(*parallel_predictor, config);
  pipeline::SamplingOptions options{config.height, config.width, config.steps, config.guidance,
                                    config.true_cfg_scale};
  const int64_t P = plan.num_prompts;
  const auto& ls = plan.latent_shape;
  RankResults mine;
  mine.latents = at::zeros({P, ls.channels, ls.height, ls.width}, at::kFloat);
  mine.reported = at::zeros({P}, at::kLong);
  mine.step_seconds = at::full({P, config.steps}, std::nan(""), at::TensorOptions().dtype(at::kDouble));
  mine.step_host_seconds = at::full_like(mine.step_seconds, std::nan(""));
  mine.step_comm_wait_seconds = at::full_like(mine.step_seconds, std::nan(""));
  // What each mesh axis' communicator waited since the last call (at step boundaries).
  auto take_comm_wait_seconds = [&groups] {
    std::array<double, runtime::kNumAxes> seconds{};
    for (runtime::Axis a : runtime::kAllAxes)
      seconds[static_cast<size_t>(a)] = groups.axis(a).take_wait_seconds();
    return seconds;
  };
  mine.weights_seconds = weights_seconds;
  mine.setup_seconds = seconds_since(job_start);

  // Prompts finished by the run we resume: rank 0 reports their latents, the queue skips them.
  int64_t num_resumed = 0;
  for (int64_t p = 0; p < P && !previous.done.empty(); ++p) {
    if (!previous.done[static_cast<size_t>(p)]) continue;
    ++num_resumed;
    if (rank == 0) {
      mine.latents[p].copy_(previous.data.latents[p]);
      mine.reported[p] = 1;
    }
  }
  if (!config.resume.empty())
    log::info("resuming {}: {} of {} prompt(s) already finished, {} to run", config.resume, num_resumed, P,
              P - num_resumed);

  parallel::PromptQueue queue(replica, plan.parallel.dp, P, previous.done);
  const auto denoise_start = Clock::now();
  const int64_t expected_steps = (P - num_resumed + plan.parallel.dp - 1) / plan.parallel.dp * config.steps;
  const double step_delay_seconds = test_step_delay_seconds();
  int64_t done_steps = 0;
  // Stopping (SIGTERM/SIGUSR1): the replica agrees at every step boundary and before taking a
  // prompt; replicas learn from each other through the queue, without waiting for each other.
  bool stopped = false;
  int64_t abandoned = -1;
  for (int64_t p; !(stopped = queue.agree_to_stop(runtime::stop_requested())) && (p = queue.next()) >= 0;) {
    pipeline::Conditioning cond;
    if (plan.synthetic) {
      cond = pipeline::synthetic_conditioning(config.seed, p, plan.text_tokens, plan.model.joint_attention_dim,
                                              plan.model.pooled_projection_dim, config.true_cfg_scale > 1.0);
    } else {
      const auto& ps = plan.prompts;
      cond.prompt_embeds = ps.prompt_embeds.narrow(0, p, 1);
      cond.pooled_prompt_embeds = ps.pooled_prompt_embeds.narrow(0, p, 1);
      if (ps.negative_prompt_embeds.defined()) {
        cond.negative_prompt_embeds = ps.negative_prompt_embeds.narrow(0, p, 1);
        cond.negative_pooled_prompt_embeds = ps.negative_pooled_prompt_embeds.narrow(0, p, 1);
      }
    }
    at::Tensor noise = plan.prompts.initial_noise.defined() ? plan.prompts.initial_noise.narrow(0, p, 1)
                                                            : pipeline::initial_noise(config.seed + p, ls);
    // This prompt's waits: kept with its step times once it has finished (not for an abandoned one).
    std::vector<double> step_waits;
    std::array<double, runtime::kNumAxes> axis_waits{};
    auto on_step = [&](int64_t step, double seconds) {
      const auto waits = take_comm_wait_seconds();
      step_waits.push_back(std::accumulate(waits.begin(), waits.end(), 0.0));
      for (size_t a = 0; a < waits.size(); ++a) axis_waits[a] += waits[a];
      predictor.check_step();
      profiler->step_finished(step);
      if (std::isnan(mine.time_to_first_step_seconds)) mine.time_to_first_step_seconds = seconds_since(job_start);
      ++done_steps;
      const double per_step = seconds_since(denoise_start) / static_cast<double>(done_steps);
      const double remaining = per_step * static_cast<double>(std::max<int64_t>(0, expected_steps - done_steps));
      log::info("prompt {}/{} step {}/{}  {:.3f} s/step  ETA {}", p + 1, P, step + 1, config.steps, seconds,
                format_eta(remaining));
      if (step_delay_seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(step_delay_seconds));
      // Not after the last step: the prompt is finished then, the check before the next one decides.
      if (step + 1 < config.steps && queue.agree_to_stop(runtime::stop_requested())) throw StopAtStepBoundary{};
    };
    predictor.set_prompt(p);
    take_comm_wait_seconds();  // not this prompt's steps
    pipeline::DenoiseResult result;
    try {
      result = pipeline::denoise(predictor, cond, noise, options, plan.model.guidance_embeds, device, on_step);
    } catch (const StopAtStepBoundary&) {
      stopped = true;
      abandoned = p;
      break;
    } catch (const std::exception& e) {
      if (!is_out_of_memory(e)) throw;
      throw Error(ExitCode::runtime_failure,
                  out_of_memory_message(e, config, rank, device.str(), fmt::format("denoising prompt {}", p)));
    }
    at::Tensor latents = result.latents;
    PARDIT_CHECK(at::isfinite(latents).all().item<bool>(),
                 "prompt {} produced NaN/Inf latents after the last step (dtype {}): try --dtype fp32 or bf16, or "
                 "check the weights",
                 p, config.dtype);
    for (int64_t s = 0; s < config.steps; ++s) {
      mine.step_seconds[p][s] = result.step_seconds[static_cast<size_t>(s)];
      mine.step_host_seconds[p][s] = result.step_host_seconds[static_cast<size_t>(s)];
      mine.step_comm_wait_seconds[p][s] = step_waits.at(static_cast<size_t>(s));
    }
    for (runtime::Axis a : runtime::kAllAxes)
      mine.comm_wait_seconds[groups.axis(a).name()] += axis_waits[static_cast<size_t>(a)];
    if (queue.leader()) {
      mine.latents[p].copy_(latents[0]);
      mine.reported[p] = 1;
    }
  }
  if (stopped) {
    const int sig = runtime::stop_signal();
    log::warn("stopping at a step boundary: {} (replica {}){}; writing the finished prompts",
              sig ? fmt::format("{} received by this rank", signal_name(sig)) : std::string("another rank was signalled"),
              replica, abandoned >= 0 ? fmt::format(", prompt {} abandoned", abandoned) : std::string());
  }
  mine.denoise_seconds = seconds_since(denoise_start);
  mine.peak_memory_bytes = peak_memory_bytes(device);

  // 8: everything to rank 0, one file.
  std::vector<comm::Communicator*> axis_comms;
  for (runtime::Axis a : runtime::kAllAxes) axis_comms.push_back(&groups.axis(a));
  int64_t num_finished = 0;
  io::OutputData out = gather_output(*host_world, mine, topo, mesh, axis_comms, &num_finished);
  if (rank == 0) {
    out.attributes = {{"pardit_version", kVersion},
                      {"git_revision", kGitRevision},
                      {"created_utc", utc_now()},
                      {"command_line", command_line},
                      {"config", effective},
                      {"model", plan.model.name},
                      {"model_source", plan.model_source},
                      {"weights", config.weights.empty() ? "random" : config.weights},
                      {"dtype", config.dtype},
                      {"device", config.device},
                      {"mesh", plan.parallel.mesh_name()},
                      {"conditioning", plan.synthetic ? "synthetic" : config.prompts},
                      // CPU results depend on it in the last bits (reduction order): record it.
                      {"intra_op_threads", std::to_string(at::get_num_threads())}};
    out.prompt_index = at::arange(P, at::kLong);
    out.seeds = at::arange(P, at::kLong) + static_cast<int64_t>(config.seed);
    out.prompts = plan.prompts.prompts;
    if (num_resumed > 0) keep_previous_timings(out, previous.data, previous.done);
    io::write_output(config.out, out, config.overwrite || resume_replaces_output(config));
    log::info("wrote {} ({} prompt(s), complete={})", config.out, P, out.complete ? 1 : 0);
  }
  host_world->barrier();
  if (!out.complete) {
    // Only a stop leaves prompts unreported (any other failure throws before the file is written).
    if (rank == 0)
      log::warn("preempted (exit {}): {} of {} prompt(s) finished, file marked complete=0; continue with "
                "--resume {}",
                static_cast<int>(ExitCode::preempted), num_finished, P, config.out);
    return static_cast<int>(ExitCode::preempted);
  }
  if (stopped) log::info("stop requested after the last prompt finished: the file is complete");
  return 0;
}

}  // namespace pardit::app
