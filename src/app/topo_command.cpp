// `pardit topo [degrees]`: the discovered cluster and the placement the degrees would get, without
// loading a model. Runs under mpirun / srun (one line per rank of the real job) or as one process;
// --emulate plans for a cluster that is not there ("8,8": two nodes of eight ranks).
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

#include "pardit/app/commands.hpp"
#include "pardit/runtime/device.hpp"
#include "pardit/runtime/mesh.hpp"
#include "pardit/runtime/mpi_session.hpp"
#include "pardit/runtime/parallel_config.hpp"
#include "pardit/runtime/topology.hpp"

namespace pardit::app {
namespace {

struct TopoOptions {
  runtime::ParallelConfig config;
  int height = 1024;
  int width = 1024;
  std::string emulate;  // ranks per node, comma separated
  bool degrees_given = false;
};

std::vector<int> parse_node_sizes(const std::string& text) {
  std::vector<int> sizes;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    PARDIT_INPUT_CHECK(!item.empty() && *end == '\0' && value > 0,
                       "--emulate '{}': expected ranks per node separated by commas, e.g. 8,8", text);
    sizes.push_back(static_cast<int>(value));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return sizes;
}

const char* launcher() {
  if (std::getenv("SLURM_JOB_ID") && std::getenv("PMIX_RANK")) return "srun (PMIx)";
  if (std::getenv("OMPI_COMM_WORLD_SIZE")) return "mpirun";
  if (std::getenv("SLURM_JOB_ID")) return "Slurm";
  return "none (single process)";
}

int run_topo(const TopoOptions& options) {
  runtime::MpiSession session;
  const int device = runtime::select_device(session);
  runtime::Topology topology = runtime::gather_topology(session, device);
  const bool emulated = !options.emulate.empty();
  if (emulated) topology = runtime::Topology::synthetic(parse_node_sizes(options.emulate));
  const bool root = session.world_rank() == 0;

  if (root) {
    std::printf("# pardit topo: %d rank(s), launcher %s, MPI thread level %s\n", session.world_size(), launcher(),
                session.thread_level_name().c_str());
    if (emulated) std::printf("# emulated cluster --emulate %s (synthetic GPUs, all NVLinked per node)\n", options.emulate.c_str());
    std::printf("%s", topology.describe().c_str());
  }
  if (!options.degrees_given) {
    if (root) std::printf("# give degrees (--ulysses-degree ... --dp-degree) to see their placement\n");
    return 0;
  }
  runtime::validate(options.config, topology.world_size(), runtime::ModelShape::flux_dev(options.height, options.width));
  const runtime::Mesh mesh = runtime::Mesh::place(options.config, topology);
  if (root) {
    std::printf("\n%s", mesh.describe().c_str());
    const auto warnings = mesh.cross_node_warnings(runtime::ModelShape::flux_dev(options.height, options.width));
    if (warnings.empty()) std::printf("# every ulysses/ring/pipefusion/cfg group stays inside one node\n");
    for (const auto& w : warnings) std::printf("# warning: %s\n", w.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

void add_topo_command(CLI::App& root, Action& action) {
  auto options = std::make_shared<TopoOptions>();
  CLI::App* topo = root.add_subcommand(
      "topo", "Show the discovered cluster (nodes, ranks, GPUs, NVLink, NUMA, NICs) and the placement of the given "
              "parallel degrees; loads no model");
  auto& c = options->config;
  std::vector<CLI::Option*> degree_options = {
      topo->add_option("--ulysses-degree", c.ulysses, "Ulysses sequence-parallel degree (must divide the 24 heads)")
          ->check(CLI::PositiveNumber),
      topo->add_option("--ring-degree", c.ring, "Ring-attention degree")->check(CLI::PositiveNumber),
      topo->add_option("--pipefusion-degree", c.pipefusion, "PipeFusion stages")->check(CLI::PositiveNumber),
      topo->add_option("--cfg-degree", c.cfg, "CFG-parallel degree (1 or 2)")->check(CLI::PositiveNumber),
      topo->add_option("--dp-degree", c.dp, "Data-parallel replicas")->check(CLI::PositiveNumber)};
  topo->add_option("--num-pipeline-patches", c.num_pipeline_patches, "PipeFusion patches (0: = pipefusion degree)");
  topo->add_option("--height", options->height, "Image height in pixels (for validation and traffic estimates)")
      ->capture_default_str();
  topo->add_option("--width", options->width, "Image width in pixels")->capture_default_str();
  topo->add_option("--emulate", options->emulate,
                   "Plan for a cluster that is not here: ranks per node, e.g. 8,8 or 4,4,4,4");
  topo->callback([options, degree_options, &action] {
    for (auto* o : degree_options) options->degrees_given |= o->count() > 0;
    action = [options] { return run_topo(*options); };
  });
}

}  // namespace pardit::app
