// Collecting every rank's results on world rank 0 and writing the one output file.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "pardit/comm/communicator.hpp"
#include "pardit/io/output_file.hpp"
#include "pardit/runtime/mesh.hpp"
#include "pardit/runtime/topology.hpp"

namespace pardit::app {

// This rank's share of the results.
struct RankResults {
  at::Tensor latents;        // [P, C, h, w] float32; rows this rank reports, zeros elsewhere
  at::Tensor reported;       // [P] int64: 1 where this rank reports the prompt's latents
  at::Tensor step_seconds;   // [P, steps] float64; NaN for prompts this rank did not run
  at::Tensor step_host_seconds;  // [P, steps] float64: host time to issue each step (see DenoiseResult)
  // [P, steps] float64: time each step's compute stood waiting for the mesh axes' transfers
  // (Communicator::take_wait_seconds, all axes together)
  at::Tensor step_comm_wait_seconds;
  std::map<std::string, double> comm_wait_seconds;  // per mesh axis name: its part of those waits
  double time_to_first_step_seconds = std::nan("");
  double setup_seconds = 0, weights_seconds = 0, denoise_seconds = 0;
  int64_t peak_memory_bytes = 0;
};

// Collective over `host_world` (an MPI communicator on host tensors spanning every rank):
// sums the results onto every rank and returns the file contents (only rank 0 writes).
// `complete` is set on every rank; `num_finished` (optional) receives the number of reported prompts.
io::OutputData gather_output(comm::Communicator& host_world, const RankResults& mine, const runtime::Topology& topo,
                             const runtime::Mesh& mesh, const std::vector<comm::Communicator*>& axis_comms,
                             int64_t* num_finished = nullptr);

}  // namespace pardit::app
