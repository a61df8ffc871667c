// Communicator: the collectives and point-to-point operations the parallel strategies use, on
// at::Tensor. One communicator per mesh-axis group (see comm_groups.hpp).
//
// Every collective (all_to_all, all_gather, all_reduce, broadcast, barrier) must be called by every
// rank of the group, in the same order, with tensors of the same shape and dtype. send/recv/isend/
// irecv pair one rank with one peer; messages between a pair arrive in the order they were sent.
// `peer` and `root` are ranks in this communicator (0..size()-1), not world ranks.
//
// Tensors must be contiguous; outputs are pre-allocated by the caller (no hidden allocation in the
// hot path). Sizes are checked as element counts (numel) against the expected shape; byte sizes
// (nbytes) are used only for transport and the bytes_sent() counter.
//
// Every operation is bounded by the communication deadline (runtime/deadline.hpp); a peer that
// stalls or dies produces a CommError naming the operation, the group and the suspected rank/host.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pardit::comm {

enum class ReduceOp { sum, max };

// A piece of an all_to_all as memory: `rows` runs of `width` bytes, each `pitch` bytes after the
// one before (a contiguous tensor is one row). What a 2-D copy moves.
struct PieceRows {
  int64_t rows = 1;
  int64_t width = 0;
  int64_t pitch = 0;
};
// `t` as rows: contiguous, or row-pitched (the dimensions after the first packed, the first of any
// stride at least a row); nullopt otherwise.
std::optional<PieceRows> piece_rows(const at::Tensor& t);

// One copy of an all-to-all that writes straight into the members' receive buffers: `rows` rows of
// `width` bytes from `src` (this rank's memory, rows `src_pitch` apart) to `offset` bytes into
// member `peer`'s receive buffer (rows `dst_pitch` apart).
struct PeerCopy {
  int peer = 0;
  int64_t offset = 0;
  const char* src = nullptr;
  int64_t rows = 1, width = 0, dst_pitch = 0, src_pitch = 0;
};
// The copies of a piece-wise all_to_all (start_all_to_all's pieces) for member `rank` of `size`
// when every member's receive pieces lie in one buffer laid out alike (`recv_base`, `recv_bytes`:
// this rank's): piece b for peer p lands at the offset of this rank's own piece b. The peers'
// copies come first, in rank order after `rank`, then the rank's own (left out when it is already
// in place); empty pieces are left out. Throws pardit::Error naming `what` for a receive piece
// outside the buffer or a pair of pieces that cannot be cut into the same rows.
std::vector<PeerCopy> plan_peer_copies(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv,
                                       int rank, int size, const char* recv_base, size_t recv_bytes,
                                       const std::string& what);

// Handle of a non-blocking send or receive. wait() completes it (MPI: the data has arrived / the
// buffer may be reused; NCCL: later work on the current compute stream is ordered after it).
// The tensor must stay alive and unmodified until wait() returns. Destroying an unwaited request
// waits for it.
class Request {
 public:
  virtual ~Request() = default;
  virtual void wait() = 0;
};
using RequestPtr = std::unique_ptr<Request>;

// Per-communicator counters for the output file's /comm group.
struct CommStats {
  int64_t bytes_sent = 0;       // payload bytes this rank handed to the library
  double seconds_in_comm = 0;   // host wall time spent inside communicator calls
  int64_t operations = 0;
  double wait_seconds = 0;      // what take_wait_seconds() has counted so far
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  int rank() const { return rank_; }
  int size() const { return static_cast<int>(world_ranks_.size()); }
  const std::string& name() const { return name_; }  // the mesh axis ("ulysses", "ring", ...) or "world"
  const std::vector<int>& world_ranks() const { return world_ranks_; }  // group member i's world rank
  int world_rank_of(int group_rank) const { return world_ranks_.at(static_cast<size_t>(group_rank)); }

  // in: [size*n, ...]; out: same shape. Block i of `in` (rows i*n..(i+1)*n) goes to rank i; block j
  // of `out` comes from rank j. Collective.
  virtual void all_to_all(const at::Tensor& in, at::Tensor& out) = 0;
  // all_to_all started without waiting for it, so independent compute can run meanwhile; wait()
  // orders later work after it (as Request says). Both tensors must stay untouched until then.
  // Backends without asynchronous collectives (MPI here) complete it before returning.
  virtual RequestPtr start_all_to_all(const at::Tensor& in, at::Tensor& out);
  // all_to_all over lists of pieces, so that neither side packs or unpacks: send and recv each
  // hold size()*K contiguous tensors (K >= 1), pieces [p*K, (p+1)*K) go to / come from rank p in
  // order, and send[i] and recv[i] have the same dtype and element count on every rank (equal
  // splits). The pieces may be views anywhere in larger buffers (Ulysses: the head group of q, k
  // and v for rank p, received straight into the rows of p's tokens). Started as start_all_to_all.
  // The base implementation packs, calls all_to_all and unpacks; NCCL sends the pieces themselves.
  virtual RequestPtr start_all_to_all(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv);
  // in: [n, ...]; out: [size*n, ...], block j from rank j. Collective.
  virtual void all_gather(const at::Tensor& in, at::Tensor& out) = 0;
  // In place. Collective.
  virtual void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::sum) = 0;
  // In place, from `root`. Collective.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  virtual void send(const at::Tensor& tensor, int peer) = 0;
  virtual void recv(at::Tensor& tensor, int peer) = 0;
  virtual RequestPtr isend(const at::Tensor& tensor, int peer) = 0;
  virtual RequestPtr irecv(at::Tensor& tensor, int peer) = 0;
  // Sends `send` to `send_peer` and receives `recv` from `recv_peer`, both started together (one
  // NCCL group), so a ring shift cannot deadlock. Use it rather than isend + irecv whenever a rank
  // both sends and receives in one step (Ring attention, PipeFusion): on NCCL a lone isend occupies
  // the communication stream until the peer posts its receive.
  virtual RequestPtr exchange(const at::Tensor& send, int send_peer, at::Tensor& recv, int recv_peer) = 0;
  // Collective.
  virtual void barrier() = 0;

  // Memory for the tensors of an all_to_all, one buffer per `slot` (a small number the caller
  // chooses per role, e.g. "q/k/v sent"): valid until the communicator is destroyed; a later call
  // with the same slot may hand out the same memory again, so the caller must be done with the
  // previous one (stream order suffices). Backends that move data faster between buffers of their
  // own return such memory (NCCL: symmetric windows, which let NCCL move an all_to_all with the
  // GPU's copy engines instead of kernels; see [Note: symmetric exchange buffers]); the others
  // return at::empty. Collective when has_exchange_buffers(): every rank of the group calls with
  // the same slots and sizes in the same order.
  virtual at::Tensor exchange_buffer(int slot, at::IntArrayRef sizes, at::ScalarType dtype);
  // Whether exchange_buffer() returns memory of the backend's own (worth a copy into it).
  virtual bool has_exchange_buffers() const { return false; }
  // Whether start_all_to_all, when its receive pieces lie in exchange buffers, also takes
  // row-pitched pieces (views whose dimensions after the first are packed, rows any stride apart)
  // and send pieces anywhere on the device: true where the peers' copies write the buffers
  // (NCCL: [Note: peer exchanges]), so no side needs packing or a copy into a buffer.
  virtual bool pitched_exchanges() const { return false; }

  // Seconds this rank's compute stood still waiting for this communicator's transfers since the
  // last call, also added to stats().wait_seconds. On a GPU: device time of the compute stream
  // from reaching a wait on a transfer (Request::wait, a blocking call) until the transfer was done,
  // which holds both the transfer's exposed part and the time the peers took to get there; on the
  // MPI backend: host time blocked in MPI. Blocks until the waits have happened: call it where
  // the device has caught up (a step boundary).
  virtual double take_wait_seconds();

  int64_t bytes_sent() const { return stats_.bytes_sent; }
  double seconds_in_comm() const { return stats_.seconds_in_comm; }
  const CommStats& stats() const { return stats_; }

 protected:
  Communicator(std::string name, std::vector<int> world_ranks, int rank)
      : name_(std::move(name)), world_ranks_(std::move(world_ranks)), rank_(rank) {}

  // Shared argument checks (element counts, dtypes, layout); throw pardit::Error on misuse.
  void check_all_to_all(const at::Tensor& in, const at::Tensor& out) const;
  // `pitched`: pieces may be row-pitched (see pitched_exchanges()), not only contiguous.
  void check_all_to_all_pieces(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv,
                               bool pitched = false) const;
  void check_all_gather(const at::Tensor& in, const at::Tensor& out) const;
  void check_peer(int peer, const char* op) const;
  std::string describe_group() const;  // "ring group [0,1,2,3]"

  std::string name_;
  std::vector<int> world_ranks_;
  int rank_ = 0;
  CommStats stats_;

 private:
  double wait_taken_ = 0;  // stats_.wait_seconds at the last take_wait_seconds()
};

}  // namespace pardit::comm
