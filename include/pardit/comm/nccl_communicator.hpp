// Communicator over NCCL, for device tensors (CUDA builds only).
//
// [Note: comm-stream ordering]
// Each communicator enqueues its kernels on its own stream. Before an operation, the comm stream
// waits (cudaStreamWaitEvent) on an event recorded on the caller's current (compute) stream, so the
// inputs are ready; after it, an event is recorded on the comm stream and, for collectives, the
// compute stream waits on it, so later compute sees the results. For isend/irecv/exchange the
// compute stream waits only at Request::wait(), which lets the transfer overlap compute issued in
// between (Ring attention's next K/V block). The host never synchronises the device: it stays free
// to enqueue work. Tensors are recorded on the comm stream with the caching allocator.
//
// [Note: NCCL deadlines]
// NCCL calls return as soon as the work is enqueued, so a stalled peer blocks no host call. Every
// operation's completion event is registered with the runtime Watchdog with a deadline
// (PARDIT_COMM_TIMEOUT_S); the watchdog also polls ncclCommGetAsyncError. On an async error or a
// missed deadline it runs the MPI stall diagnosis on the group's MPI twin (see [Note: stall
// diagnosis] in runtime/deadline.hpp: members whose watchdog does not answer are named), calls
// ncclCommAbort (which releases any thread blocked on the stream) and then abort_job with a
// CommError naming the operation, the group, the suspects and their hosts, so every rank leaves.
// The world communicator is created non-blocking (ncclConfig_t::blocking = 0): its initialisation
// is polled against the same deadline. The axis communicators split from it, which carry the
// data, are blocking: a non-blocking communicator launches every group from a new host thread and
// must be polled until it settles, which cost ~0.5 ms of host time per Ulysses all-to-all on H200s
// and left the GPUs waiting for the host (PARDIT_NCCL_NONBLOCKING=1 restores it, for measuring).
// A blocking call can wait for a peer (the first send/recv between two ranks connects them), so
// every NCCL host call is bounded too: begin() marks it in progress with a deadline, end() clears
// it, and the watchdog treats a call past its deadline as a stall (diagnosis, then abort_job, whose
// MPI_Abort ends the blocked thread with the rest of the job).
//
// [Note: symmetric exchange buffers]
// NCCL (2.28 and later) moves an ncclAlltoAll between GPUs of one NVLink domain with the copy
// engines, starting no kernel, when both buffers lie in symmetric windows (ncclMemAlloc memory
// registered with NCCL_WIN_COLL_SYMMETRIC on every rank, used at equal offsets) and the
// communicator's CTA policy is NCCL_CTA_POLICY_ZERO. A kernel-driven exchange competes with the
// compute it is meant to overlap for the multiprocessors (cuBLAS's persistent GEMMs hold them all);
// a copy-engine exchange does not. exchange_buffer() hands out such memory, one window per slot,
// registered when a slot first needs it or outgrows its window (a collective call on a blocking
// communicator, bounded like every host call); windows stay until the communicator is destroyed,
// which releases them, and the memory is freed after that. all_to_all and the piece-wise
// start_all_to_all call ncclAlltoAll when their buffers lie in windows (all of them, one block per
// peer back to back: a mix with ordinary memory is refused, since NCCL mis-delivers it).
// PARDIT_NCCL_SYMMETRIC=0 turns this off (kernel exchanges, default CTA policy), for measuring.
//
// [Note: peer exchanges]
// When every member of a communicator runs on one node, pardit moves the all-to-alls between
// exchange buffers itself (the default for two members; PARDIT_PEER_EXCHANGE=1 for more, whose
// copies to the peers run one after another on one stream and were not measured against NCCL yet;
// PARDIT_PEER_EXCHANGE=0 leaves them to NCCL's windows). The buffers are cudaMalloc memory that
// every member maps through CUDA IPC, and an all_to_all is, on the comm stream, one copy per piece
// straight into the peer's receive buffer (cudaMemcpy2DAsync: copy engines over NVLink), one flag
// written into each peer's flag array (cuStreamWriteValue32, which fences the copies before it),
// the rank's own piece copied locally (or not at all when it is already in place), and a wait for
// every peer's flag (cuStreamWaitValue32). The host never waits. Unlike NCCL's copy-engine
// all-to-all there is no handshake before the copies, receive pieces may be row-pitched views
// (Ulysses gathers the attention output straight into [B, S, H, D]) and send pieces may lie
// anywhere (no copy into a window first). On 2x H200 this made Ulysses-2 1.045x / 1.026x faster at
// 1024^2 / 2048^2, latents bit-identical (docs/performance.md).
// Without the handshake a peer may write into a receive buffer as soon as it has what it waits for
// from this rank. That is safe under one rule, which Ulysses keeps: between two all_to_alls whose
// receive pieces use the same slot, every member enqueues its last read of the first's data before
// it calls the all_to_all that precedes the second (so the data a peer waits for before writing
// again is sent only after that read; Ulysses, which reads part of its received q/k/v after
// starting the output exchange when it sends the output early, receives q/k/v into two slots in
// turn to keep this). The same holds for writes: a rank must not write into a part of its own
// receive buffer that a peer writes (a fresh buffer included) unless a collective that every peer
// waits for (barrier()) follows the write before the next all_to_all; the region of the rank's own
// piece, which no peer writes, is free to write in stream order (Ulysses puts its own head group
// there); and nothing may be sent from a receive buffer but the rank's own piece in place. Flags count operations (one epoch per all_to_all,
// cyclic >= compare), so one flag word per peer serves every slot. A stalled or dead peer leaves
// the comm stream waiting: the operation's completion event misses its deadline and the watchdog
// ends the job as for NCCL ([Note: NCCL deadlines]). The members of a split agree on using peer
// exchanges at all (any "no" wins). A buffer is set up on a slot's first use or growth
// (collective: handles all-gathered on the MPI twin with the slot and size, which must match on
// every member; every member must open every peer's mapping, else all fall back to NCCL's windows,
// each failing member logging why); buffers of a slot that grew stay mapped until the communicator
// is destroyed.
#pragma once

#ifdef PARDIT_HAVE_CUDA
#include <nccl.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "pardit/comm/communicator.hpp"
#include "pardit/comm/cuda_handles.hpp"
#include "pardit/comm/mpi_communicator.hpp"
#include "pardit/common/env.hpp"
#include "pardit/runtime/deadline.hpp"
#include "pardit/runtime/topology.hpp"

// NCCL moves an ncclAlltoAll between symmetric windows on the copy engines from 2.28 on.
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0)
#define PARDIT_NCCL_COPY_ENGINE_ALLTOALL 1
#endif

namespace pardit::comm {

// Owns an ncclComm_t: destroyed normally, or aborted (abort() is for failures: it does not wait
// for outstanding work and is safe from another thread).
class NcclCommHandle {
 public:
  NcclCommHandle() = default;
  explicit NcclCommHandle(ncclComm_t comm) : comm_(comm) {}
  ~NcclCommHandle();
  NcclCommHandle(NcclCommHandle&& o) noexcept
      : comm_(std::exchange(o.comm_, nullptr)), aborted_(o.aborted_.exchange(false)) {}
  NcclCommHandle& operator=(NcclCommHandle&& o) noexcept {
    std::swap(comm_, o.comm_);
    aborted_ = o.aborted_.exchange(aborted_.load());
    return *this;
  }
  NcclCommHandle(const NcclCommHandle&) = delete;
  NcclCommHandle& operator=(const NcclCommHandle&) = delete;
  ncclComm_t get() const { return comm_; }
  void abort();
  bool aborted() const { return aborted_; }

 private:
  ncclComm_t comm_ = nullptr;
  std::atomic<bool> aborted_{false};  // set by the watchdog thread, read by the caller's
};

class NcclCommunicator final : public Communicator {
 public:
  // Collective over MPI_COMM_WORLD: rank 0 creates the ncclUniqueId, MPI broadcasts it (bounded by
  // the deadline), every rank joins with ncclCommInitRankConfig on its current device.
  static std::unique_ptr<NcclCommunicator> world(runtime::Topology topology);
  // Collective over this communicator (every rank of it calls, in the same order): ncclCommSplit
  // into groups; `world_ranks` is the caller's group in group order, identical on its members.
  std::unique_ptr<NcclCommunicator> split(std::vector<int> world_ranks, std::string name);
  ~NcclCommunicator() override;

  void all_to_all(const at::Tensor& in, at::Tensor& out) override;
  RequestPtr start_all_to_all(const at::Tensor& in, at::Tensor& out) override;
  RequestPtr start_all_to_all(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv) override;
  void all_gather(const at::Tensor& in, at::Tensor& out) override;
  void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::sum) override;
  void broadcast(at::Tensor& tensor, int root) override;
  void send(const at::Tensor& tensor, int peer) override;
  void recv(at::Tensor& tensor, int peer) override;
  RequestPtr isend(const at::Tensor& tensor, int peer) override;
  RequestPtr irecv(at::Tensor& tensor, int peer) override;
  RequestPtr exchange(const at::Tensor& send, int send_peer, at::Tensor& recv, int recv_peer) override;
  // Stream-ordered: a zero-byte all-reduce (NCCL has no barrier). Collective.
  void barrier() override;
  double take_wait_seconds() override;

  at::Tensor exchange_buffer(int slot, at::IntArrayRef sizes, at::ScalarType dtype) override;
  bool has_exchange_buffers() const override { return symmetric_ || peer_; }
  bool pitched_exchanges() const override { return peer_; }

  cudaStream_t stream() const { return stream_.get(); }
  int device() const { return device_; }
  // Aborts the NCCL communicator (failures only; idempotent, thread-safe).
  void abort();

 private:
  NcclCommunicator(ncclComm_t comm, MpiCommHandle diag, std::string name, std::vector<int> world_ranks, int rank,
                   runtime::Topology topology, int device);

  struct Pending {
    std::shared_ptr<CudaEvent> done;
    runtime::Clock::time_point deadline;
    std::string op;
    int64_t sequence = 0;
  };

  // The NCCL host call in progress (op, sequence, deadline as Clock ticks; 0: none), read by the
  // watchdog without the mutex (the caller does not hold it while blocked in NCCL).
  void mark_host_call(const char* op, int64_t sequence);
  void clear_host_call() { host_call_deadline_ = 0; }
  std::atomic<int64_t> host_call_deadline_{0};
  std::atomic<int64_t> host_call_sequence_{0};
  std::atomic<const char*> host_call_op_{""};

  // Clears the host-call mark when the operation's host part ends, also by an exception.
  struct HostCall {
    NcclCommunicator* comm;
    explicit HostCall(NcclCommunicator* c) : comm(c) {}
    HostCall(const HostCall&) = delete;
    HostCall& operator=(const HostCall&) = delete;
    ~HostCall() { comm->clear_host_call(); }
  };

  // See [Note: comm-stream ordering].
  [[nodiscard]] HostCall begin(const char* op, std::initializer_list<const at::Tensor*> tensors);
  std::shared_ptr<CudaEvent> end(const char* op, const std::vector<const at::Tensor*>& tensors,
                                 bool order_compute_now);
  std::shared_ptr<CudaEvent> enqueue_all_to_all(const at::Tensor& in, at::Tensor& out, bool order_compute_now);
  // One ncclAlltoAll of `block` bytes per peer between symmetric windows (moved by the copy
  // engines) when the operation touches a window; false, with nothing enqueued, when it does not.
  // Anything of it in a window must be all of it, its blocks back to back (`send` / `recv`: where
  // they start, nullptr when they are not contiguous), else it throws: NCCL 2.28 mis-delivered,
  // then hung, when a window met ordinary memory in a group of sends and receives (H200).
  bool enqueue_symmetric_all_to_all(const void* send, void* recv, size_t block, bool touches_window);
  bool in_window(const void* ptr, size_t bytes) const;
  std::optional<std::string> poll();  // for the watchdog; see [Note: NCCL deadlines]
  std::string members() const;        // "ranks 0,1 on node01,node02"

  // Exchange buffers unless PARDIT_NCCL_SYMMETRIC=0 (and NCCL is new enough). In
  // nccl_exchange_buffers.cpp, with the members below.
  static bool symmetric_exchanges();
  // ncclMemAlloc memory of one symmetric window (see [Note: symmetric exchange buffers]); freed by
  // the destructor, which runs after comm_'s (members are destroyed in reverse order).
  struct SymmetricMemory {
    void* ptr = nullptr;
    size_t bytes = 0;
    SymmetricMemory() = default;
    SymmetricMemory(const SymmetricMemory&) = delete;
    SymmetricMemory& operator=(const SymmetricMemory&) = delete;
    ~SymmetricMemory();
  };
  std::vector<std::unique_ptr<SymmetricMemory>> windows_;  // every window registered, in order
  std::vector<SymmetricMemory*> slots_;                     // the current window of each slot
  bool symmetric_ = false;
  bool announced_symmetric_ = false;  // logged once per communicator

  // Peer exchanges (nccl_peer_exchange.cpp, [Note: peer exchanges]) on a communicator whose
  // members share a node: by default for two members, with PARDIT_PEER_EXCHANGE=1 for any number,
  // never with PARDIT_PEER_EXCHANGE=0.
  static bool peer_exchanges_wanted(int members);
  // cudaMalloc memory of this rank and every member's mapping of it (peers[rank] = local).
  struct PeerMemory {
    char* local = nullptr;
    size_t bytes = 0;
    std::vector<char*> peers;
    PeerMemory() = default;
    PeerMemory(const PeerMemory&) = delete;
    PeerMemory& operator=(const PeerMemory&) = delete;
    ~PeerMemory();
  };
  // Collective: allocates `bytes` for `slot` (-1: the flags), all-gathers the IPC handles with the
  // slot and size (members asking for different ones is an error naming them), maps every peer's
  // memory; null on every member when any member could not (each failing member logs why).
  std::unique_ptr<PeerMemory> share_peer_memory(int slot, size_t bytes);
  at::Tensor peer_exchange_buffer(int slot, size_t bytes, at::IntArrayRef sizes, const at::TensorOptions& options);
  // Enqueues the piece-wise all_to_all as peer copies when its receive pieces lie in a peer
  // buffer; false, with nothing enqueued, when they do not.
  bool enqueue_peer_all_to_all(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv);
  const PeerMemory* peer_buffer_of(const at::Tensor& t) const;
  bool peer_ = false;
  std::unique_ptr<PeerMemory> peer_flags_;  // uint32 per member: the epoch it last delivered here
  uint32_t peer_epoch_ = 0;
  std::vector<std::unique_ptr<PeerMemory>> peer_buffers_;  // every buffer shared, in order
  std::vector<PeerMemory*> peer_slots_;                    // the current buffer of each slot

  NcclCommHandle comm_;
  MpiCommHandle diag_;  // MPI communicator with the same members, for the stall diagnosis
  CudaStream stream_;
  CudaEvent ready_;  // recorded on the compute stream before each operation
  // The compute stream's waits for this communicator's transfers (take_wait_seconds).
  // PARDIT_COMM_WAIT_TIMING=0: not timed (docs/runtime.md §5).
  std::shared_ptr<StreamWaitTimer> waits_ = std::make_shared<StreamWaitTimer>(!env_is("PARDIT_COMM_WAIT_TIMING", "0"));
  runtime::Topology topology_;
  int device_ = 0;
  int64_t sequence_ = 0;
  std::mutex mutex_;  // guards pending_ and comm_ between the caller and the watchdog
  std::deque<Pending> pending_;
  int watch_id_ = -1;
};

}  // namespace pardit::comm
#endif
