#include "job_output.hpp"

#include <ATen/ATen.h>

#include "pardit/common/error.hpp"

namespace pardit::app {

io::OutputData gather_output(comm::Communicator& host_world, const RankResults& mine, const runtime::Topology& topo,
                             const runtime::Mesh& mesh, const std::vector<comm::Communicator*>& axis_comms,
                             int64_t* num_finished) {
  const int world = host_world.size();
  io::OutputData out;
  out.world_size = world;

  // Latents: exactly one rank reports each prompt; a sum collects them.
  at::Tensor latents = mine.latents.clone();
  at::Tensor reported = mine.reported.clone();
  host_world.all_reduce(latents);
  host_world.all_reduce(reported);
  out.latents = latents;
  out.complete = (reported == 1).all().item<bool>();
  if (num_finished != nullptr) *num_finished = (reported == 1).sum().item<int64_t>();
  PARDIT_CHECK((reported <= 1).all().item<bool>(), "a prompt was reported by more than one rank");

  auto gather_rows = [&](const at::Tensor& row) {  // [n...] -> [world, n...]
    std::vector<int64_t> shape{world};
    for (int64_t d : row.sizes()) shape.push_back(d);
    at::Tensor flat = row.reshape({-1}).contiguous();
    at::Tensor gathered = at::empty({world * flat.size(0)}, flat.options());
    host_world.all_gather(flat, gathered);
    return gathered.view(shape);
  };
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  out.timings["step_seconds"] = gather_rows(mine.step_seconds);
  out.timings["step_host_seconds"] = gather_rows(mine.step_host_seconds);
  out.timings["step_comm_wait_seconds"] = gather_rows(mine.step_comm_wait_seconds);
  out.timings["time_to_first_step_seconds"] =
      gather_rows(at::full({1}, mine.time_to_first_step_seconds, f64)).view({world});
  out.timings["setup_seconds"] = gather_rows(at::full({1}, mine.setup_seconds, f64)).view({world});
  out.timings["weights_seconds"] = gather_rows(at::full({1}, mine.weights_seconds, f64)).view({world});
  out.timings["denoise_seconds"] = gather_rows(at::full({1}, mine.denoise_seconds, f64)).view({world});
  out.timings["peak_memory_bytes"] =
      gather_rows(at::full({1}, mine.peak_memory_bytes, at::TensorOptions().dtype(at::kLong))).view({world});

  // Communication per mesh axis: bytes, host seconds in calls and seconds waited, of every rank.
  for (comm::Communicator* c : axis_comms) {
    out.comm[c->name() + "_bytes"] =
        gather_rows(at::full({1}, c->bytes_sent(), at::TensorOptions().dtype(at::kLong))).view({world});
    out.comm[c->name() + "_seconds"] = gather_rows(at::full({1}, c->seconds_in_comm(), f64)).view({world});
    const auto wait = mine.comm_wait_seconds.find(c->name());
    out.comm[c->name() + "_wait_seconds"] =
        gather_rows(at::full({1}, wait == mine.comm_wait_seconds.end() ? 0.0 : wait->second, f64)).view({world});
  }

  at::Tensor coords = at::empty({world, runtime::kNumAxes}, at::TensorOptions().dtype(at::kLong));
  for (int r = 0; r < world; ++r) {
    const auto& info = topo.rank(r);
    out.node_name.push_back(info.node_name);
    out.local_rank.push_back(info.local_rank);
    out.gpu.push_back(info.gpu_index < 0 ? "cpu"
                                         : fmt::format("{} {} {}", info.gpu_name, info.gpu_uuid, info.gpu_pci_bus_id));
    auto c = mesh.coords(r);
    for (int a = 0; a < runtime::kNumAxes; ++a) coords[r][a] = c[static_cast<size_t>(a)];
  }
  out.mesh_coords = coords;
  return out;
}

}  // namespace pardit::app
