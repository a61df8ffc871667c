// The one HDF5 output file of a job (DESIGN.md §5; schema in docs/output-format.md).
// Written once by world rank 0, to a temporary name renamed over the target when complete,
// so a crash never leaves a file that looks finished.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace pardit::io {

struct OutputData {
  // String root attributes: pardit_version, git_revision, created_utc, command_line, config,
  // model, dtype, device, conditioning ("synthetic" or the prompt file path) ...
  std::map<std::string, std::string> attributes;
  int64_t world_size = 1;                      // root attribute `world_size` (int64)
  bool complete = false;                       // root attribute `complete` (int64 1/0)
  at::Tensor latents;                          // float32 [P, 16, H/8, W/8] -> /latents
  at::Tensor prompt_index;                     // int64 [P] -> /prompt_index
  at::Tensor seeds;                            // int64 [P] -> /seeds
  std::vector<std::string> prompts;            // -> /prompts (variable-length), omitted if empty
  std::map<std::string, at::Tensor> timings;   // -> /timings/<name>, e.g. step_seconds f64 [world,P,steps]
  std::vector<std::string> node_name;          // [world] -> /topology/node_name
  std::vector<int64_t> local_rank;             // [world] -> /topology/local_rank
  std::vector<std::string> gpu;                // [world] -> /topology/gpu ("cpu" on CPU)
  at::Tensor mesh_coords;                      // int64 [world, 5] -> /topology/mesh_coords
  std::map<std::string, at::Tensor> comm;      // -> /comm/<name>
};

// Refuses, before any expensive work, an output path that cannot be written: a missing
// directory, a directory that is not writable, an existing file without `overwrite` (the
// message names --overwrite), a path that is a directory. Throws InputError.
void check_output_path(const std::filesystem::path& path, bool overwrite);

// Writes "<path>.tmp-<pid>" and renames it over `path`. On any failure the temporary file is
// removed and an existing file at `path` is left untouched. Tensors may live on any device;
// they are copied to contiguous CPU memory. Dataset dtypes: float64/float32/int64/int32
// (other dtypes are converted: floating -> float32, integral/bool -> int64).
void write_output(const std::filesystem::path& path, const OutputData& data, bool overwrite);

// The inverse of write_output, for `pardit inspect` and --resume. Absent optional datasets
// come back empty/undefined.
OutputData read_output(const std::filesystem::path& path);

}  // namespace pardit::io
