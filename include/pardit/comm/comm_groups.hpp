// One communicator per mesh axis for the calling rank.
#pragma once

#include <array>
#include <memory>

#include "pardit/comm/communicator.hpp"
#include "pardit/runtime/mesh.hpp"

namespace pardit::comm {

enum class Backend { mpi, nccl };

class CommGroups {
 public:
  // Collective over MPI_COMM_WORLD: every rank calls it with the same mesh. Builds this rank's
  // group on every axis (degree-1 axes get a communicator of size 1), plus one over the world.
  // Backend::nccl needs a CUDA build and a current device (runtime::select_device).
  CommGroups(const runtime::Mesh& mesh, const runtime::Topology& topology, int world_rank, Backend backend);

  Communicator& axis(runtime::Axis a) { return *axes_.at(static_cast<size_t>(a)); }
  Communicator& world() { return *world_; }
  Backend backend() const { return backend_; }

 private:
  Backend backend_;
  std::array<std::unique_ptr<Communicator>, runtime::kNumAxes> axes_;
  std::unique_ptr<Communicator> world_;
};

}  // namespace pardit::comm
