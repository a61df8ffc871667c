// --resume: continuing a prompt list from the partial file of a stopped run (docs/reliability.md).
// Internal to src/app.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "pardit/io/output_file.hpp"
#include "pardit/io/run_config.hpp"
#include "pardit/pipeline/latents.hpp"

namespace pardit::app {

struct PreviousRun {
  io::OutputData data;        // the earlier file as read
  std::vector<uint8_t> done;  // [P]: 1 where the earlier run finished the prompt
};

// Reads `config.resume` and checks that it was written by the same job: same model, weights,
// prompts, image size, steps, seed, guidance and dtype (the parallel layout may differ: every
// exact method gives the same latents). Throws InputError naming every difference. One rank calls.
PreviousRun read_previous_run(const io::RunConfig& config, int64_t num_prompts, const pipeline::LatentShape& shape);

// Rank 0, before writing the resumed job's file: the step times of the prompts taken from the
// earlier file. Same world size: its rows as they were; otherwise each step's maximum over the
// earlier ranks goes to row 0 (a prompt counts as finished when some row has all its steps).
void keep_previous_timings(io::OutputData& out, const io::OutputData& previous, const std::vector<uint8_t>& done);

// True when --out and --resume name the same file (then no --overwrite is needed: the new file
// replaces the old one atomically, by rename).
bool resume_replaces_output(const io::RunConfig& config);

}  // namespace pardit::app
