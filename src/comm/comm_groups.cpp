#include "pardit/comm/comm_groups.hpp"

#include "pardit/comm/mpi_communicator.hpp"
#include "pardit/common/error.hpp"
#ifdef PARDIT_HAVE_CUDA
#include "pardit/comm/nccl_communicator.hpp"
#endif

namespace pardit::comm {

CommGroups::CommGroups(const runtime::Mesh& mesh, const runtime::Topology& topology, int world_rank, Backend backend)
    : backend_(backend) {
  if (backend == Backend::mpi) {
    world_ = MpiCommunicator::world(topology);
    // Every rank creates the axes in the same order (each creation is collective over the world).
    for (runtime::Axis axis : runtime::kAllAxes)
      axes_[static_cast<size_t>(axis)] = std::make_unique<MpiCommunicator>(
          MPI_COMM_WORLD, mesh.group(axis, world_rank), runtime::axis_name(axis), topology);
    return;
  }
#ifdef PARDIT_HAVE_CUDA
  auto world = NcclCommunicator::world(topology);
  for (runtime::Axis axis : runtime::kAllAxes)
    axes_[static_cast<size_t>(axis)] = world->split(mesh.group(axis, world_rank), runtime::axis_name(axis));
  world_ = std::move(world);
#else
  throw pardit::InputError("the NCCL backend needs a build with CUDA (PARDIT_CUDA=ON); this build is CPU-only");
#endif
}

}  // namespace pardit::comm
