// Reading an untrusted prompt file without risking the job: libhdf5 1.10 can crash or loop on a
// damaged file (fuzz/known/README.md), so the file is first read in a separate process
// (`pardit vet-prompts`); only when that process comes back does this one read it. Internal to
// src/app; see docs/reliability.md.
#pragma once

#include <filesystem>

#include "pardit/io/prompt_file.hpp"

namespace pardit::app {

// Throws InputError when the checking process crashes, fails or does not finish in time; a file
// the reader refuses cleanly is left to the caller's own read (same message). Returns when the
// file read back.
void vet_prompt_file(const std::filesystem::path& file, const io::PromptFileShape& expect);

// The bound on the checking process: 60 s plus 20 s per GB of file.
double prompt_vetting_timeout_seconds(const std::filesystem::path& file);

}  // namespace pardit::app
