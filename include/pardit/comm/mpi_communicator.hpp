// Communicator over MPI, for host (CPU) tensors of any dtype: CPU runs and the mpi tests.
#pragma once

#include <mpi.h>

#include "pardit/comm/communicator.hpp"
#include "pardit/runtime/topology.hpp"

namespace pardit::comm {

// Owns an MPI_Comm (freed on destruction); non-copyable, movable.
class MpiCommHandle {
 public:
  MpiCommHandle() = default;
  explicit MpiCommHandle(MPI_Comm comm) : comm_(comm) {}
  ~MpiCommHandle();
  MpiCommHandle(MpiCommHandle&& other) noexcept : comm_(other.release()) {}
  MpiCommHandle& operator=(MpiCommHandle&& other) noexcept;
  MpiCommHandle(const MpiCommHandle&) = delete;
  MpiCommHandle& operator=(const MpiCommHandle&) = delete;
  MPI_Comm get() const { return comm_; }
  MPI_Comm release() {
    MPI_Comm c = comm_;
    comm_ = MPI_COMM_NULL;
    return c;
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

class MpiCommunicator final : public Communicator {
 public:
  // Collective over `parent` (every rank of parent calls it, in the same order): splits `parent`
  // into groups. `world_ranks` is this rank's group (world ranks in group order; the caller's
  // position in it is its rank). Every rank of a group must pass the same list. `topology` names
  // hosts in error messages (may be empty).
  MpiCommunicator(MPI_Comm parent, std::vector<int> world_ranks, std::string name,
                  runtime::Topology topology = {});
  // The whole of MPI_COMM_WORLD (duplicated). Collective over the world.
  static std::unique_ptr<MpiCommunicator> world(runtime::Topology topology = {});

  void all_to_all(const at::Tensor& in, at::Tensor& out) override;
  void all_gather(const at::Tensor& in, at::Tensor& out) override;
  void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  void broadcast(at::Tensor& tensor, int root) override;
  void send(const at::Tensor& tensor, int peer) override;
  void recv(at::Tensor& tensor, int peer) override;
  RequestPtr isend(const at::Tensor& tensor, int peer) override;
  RequestPtr irecv(at::Tensor& tensor, int peer) override;
  RequestPtr exchange(const at::Tensor& send, int send_peer, at::Tensor& recv, int recv_peer) override;
  void barrier() override;

  MPI_Comm comm() const { return comm_.get(); }

  // Completes `requests` within the deadline, else diagnoses who is missing (see [Note: stall
  // diagnosis]) and throws CommError "<op> on <group> timed out ...". `peer` = -1 for collectives.
  void complete(MPI_Request* requests, int count, const char* op, int peer);

 private:
  std::string host_of(int group_rank) const;
  std::string diagnose(const char* op);

  MpiCommHandle comm_;
  MpiCommHandle diag_comm_;  // separate context for the stall diagnosis messages
  runtime::Topology topology_;
  int64_t sequence_ = 0;  // operations issued, for messages
};

}  // namespace pardit::comm
