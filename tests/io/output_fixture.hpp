// A fully populated OutputData: 2 ranks (cfg=2), 3 prompts, 4 steps, 32x48 image.
#pragma once

#include "pardit/io/output_file.hpp"

namespace pardit::io::test {

inline OutputData sample_output() {
  OutputData d;
  d.attributes = {{"pardit_version", "0.1.0"},
                  {"git_revision", "abc123"},
                  {"created_utc", "2026-01-01T00:00:00Z"},
                  {"command_line", "pardit run --model flux-tiny"},
                  {"config", "[model]\nname = \"flux-tiny\"\n"},
                  {"model", "flux-tiny"},
                  {"dtype", "fp32"},
                  {"device", "cpu"},
                  {"conditioning", "synthetic"}};
  d.world_size = 2;
  d.complete = true;
  d.latents = at::arange(3 * 16 * 4 * 6, at::kFloat).reshape({3, 16, 4, 6}) / 7;
  d.prompt_index = at::tensor(std::vector<int64_t>{0, 1, 2});
  d.seeds = at::tensor(std::vector<int64_t>{42, 43, 44});
  d.prompts = {"a cat", "a dog", "ünïcode ✓"};
  d.timings["step_seconds"] = at::rand({2, 3, 4}, at::kDouble);
  d.timings["time_to_first_step_seconds"] = at::rand({2}, at::kDouble);
  d.timings["peak_memory_bytes"] = at::tensor(std::vector<int64_t>{1 << 20, 2 << 20});
  d.timings["compute_seconds_f32"] = at::rand({2}, at::kFloat);
  d.timings["steps_done"] = at::tensor(std::vector<int32_t>{4, 4});
  d.node_name = {"node-a", "node-a"};
  d.local_rank = {0, 1};
  d.gpu = {"cpu", "cpu"};
  d.mesh_coords = at::tensor(std::vector<int64_t>{0, 0, 0, 0, 0, 0, 1, 0, 0, 0}).reshape({2, 5});
  d.comm["cfg_bytes"] = at::tensor(std::vector<int64_t>{1024, 1024});
  d.comm["cfg_seconds"] = at::tensor(std::vector<double>{0.5, 0.25});
  return d;
}

}  // namespace pardit::io::test
