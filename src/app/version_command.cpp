#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <mpi.h>

#include "pardit/app/build_info.hpp"
#include "pardit/app/commands.hpp"

namespace pardit::app {

void add_version_command(CLI::App& root, Action& action) {
  CLI::App* cmd = root.add_subcommand("version", "print pardit's version and what it was built with");
  cmd->callback([&action] {
    action = [] {
      char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
      int len = 0;
      MPI_Get_library_version(mpi_version, &len);
      std::string mpi(mpi_version, static_cast<size_t>(len));
      if (auto nl = mpi.find('\n'); nl != std::string::npos) mpi.resize(nl);
      fmt::print("pardit {} ({})\nLibTorch {}\nCUDA + NCCL: {}\nMPI: {}\n", kVersion, kGitRevision,
                 kLibTorchVersion, kHaveCuda ? "yes" : "no (CPU build)", mpi);
      return 0;
    };
  });
}

}  // namespace pardit::app
