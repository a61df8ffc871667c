// NCCL backend. See [Note: comm-stream ordering] and [Note: NCCL deadlines] in nccl_communicator.hpp.
#include "pardit/comm/nccl_communicator.hpp"

#include <ATen/ATen.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

#include "comm_timer.hpp"
#include "pardit/comm/checks.hpp"
#include "pardit/common/env.hpp"
#include "pardit/runtime/abort.hpp"
#include "pardit/runtime/watchdog.hpp"

namespace pardit::comm {
namespace {

ncclDataType_t nccl_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kChar: return ncclInt8;
    case at::kByte: return ncclUint8;
    case at::kBool: return ncclUint8;
    case at::kInt: return ncclInt32;
    case at::kLong: return ncclInt64;
    default:
      throw Error(ExitCode::runtime_failure,
                  fmt::format("{}: dtype {} has no NCCL type", error_identity(), c10::toString(t)));
  }
}

// `laid_out`: the layout was checked already (all_to_all pieces, which may be row-pitched).
void check_device(const at::Tensor& t, int device, const char* op, bool laid_out = false) {
  PARDIT_CHECK(t.is_cuda() && t.get_device() == device, "{} on the NCCL backend needs a tensor on cuda:{}, got {}", op,
               device, t.device().str());
  PARDIT_CHECK(laid_out || t.is_contiguous(), "{}: tensor must be contiguous", op);
}

ncclConfig_t nccl_config(bool blocking) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = blocking ? 1 : 0;
  return config;
}

// The axis communicators are blocking unless PARDIT_NCCL_NONBLOCKING=1 ([Note: NCCL deadlines]).
bool blocking_axis_communicators() {
  static const bool blocking = !env_is("PARDIT_NCCL_NONBLOCKING", "1");
  return blocking;
}

// The first piece's address when the pieces lie back to back in order with one size (one block
// per peer, as ncclAlltoAll takes them); nullptr otherwise.
const char* contiguous_blocks(const std::vector<at::Tensor>& pieces) {
  const auto* base = static_cast<const char*>(pieces.front().const_data_ptr());
  const size_t bytes = pieces.front().nbytes();
  for (size_t i = 0; i < pieces.size(); ++i)
    if (pieces[i].nbytes() != bytes || static_cast<const char*>(pieces[i].const_data_ptr()) != base + i * bytes)
      return nullptr;
  return base;
}

runtime::Clock::time_point deadline_from_now() {
  return runtime::Clock::now() + std::chrono::duration_cast<runtime::Clock::duration>(
                                     std::chrono::duration<double>(runtime::comm_timeout_seconds()));
}

// Non-blocking communicators answer ncclInProgress until an initialisation / split / group has
// completed; wait for it within the deadline.
void settle(ncclComm_t comm, const std::string& what) {
  const double timeout = runtime::comm_timeout_seconds();
  const auto deadline =
      runtime::Clock::now() + std::chrono::duration_cast<runtime::Clock::duration>(std::chrono::duration<double>(timeout));
  for (;;) {
    ncclResult_t state = ncclSuccess;
    NCCL_CHECK(ncclCommGetAsyncError(comm, &state));
    if (state == ncclSuccess) return;
    if (state != ncclInProgress)
      throw CommError(fmt::format("{}: {} failed: {} ({})", error_identity(), what, ncclGetErrorString(state),
                                  ncclGetLastError(comm)));
    if (runtime::Clock::now() > deadline) {
      ncclCommAbort(comm);
      throw CommError(fmt::format("{}: {} did not finish within {} s (PARDIT_COMM_TIMEOUT_S): a rank stalled or died",
                                  error_identity(), what, timeout));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

class NcclRequest final : public Request {
 public:
  NcclRequest(std::shared_ptr<CudaEvent> done, int device, std::shared_ptr<StreamWaitTimer> waits)
      : done_(std::move(done)), device_(device), waits_(std::move(waits)) {}
  ~NcclRequest() override {
    if (done_) {
      try {
        wait();
      } catch (...) {
      }
    }
  }
  // Orders the caller's current stream after the transfer; does not block the host.
  void wait() override {
    if (!done_) return;
    waits_->wait(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream(), done_->get());
    done_.reset();
  }

 private:
  std::shared_ptr<CudaEvent> done_;
  int device_;
  std::shared_ptr<StreamWaitTimer> waits_;  // the communicator's: a request may outlive it while unwinding
};

}  // namespace

NcclCommHandle::~NcclCommHandle() {
  if (comm_ == nullptr) return;
  if (aborted_) return;  // ncclCommAbort already freed it
  ncclCommDestroy(comm_);
}

void NcclCommHandle::abort() {
  if (comm_ == nullptr || aborted_.exchange(true)) return;
  ncclCommAbort(comm_);
}

NcclCommunicator::NcclCommunicator(ncclComm_t comm, MpiCommHandle diag, std::string name, std::vector<int> world_ranks,
                                   int rank, runtime::Topology topology, int device)
    : Communicator(std::move(name), std::move(world_ranks), rank),
      comm_(comm),
      diag_(std::move(diag)),
      stream_(CudaStream::create()),
      topology_(std::move(topology)),
      device_(device) {
  watch_id_ = runtime::Watchdog::global().watch([this] { return poll(); }, [this] { abort(); });
}

NcclCommunicator::~NcclCommunicator() {
  // After unwatch() returns the watchdog no longer touches this object.
  if (watch_id_ >= 0) runtime::Watchdog::global().unwatch(watch_id_);
  // ncclCommDestroy of a blocking communicator waits for its outstanding work: with work still in
  // flight (an exception unwinding past a stuck transfer) abort instead, which does not wait.
  bool busy = std::uncaught_exceptions() > 0;
  for (const Pending& p : pending_) busy = busy || cudaEventQuery(p.done->get()) != cudaSuccess;
  if (busy) {
    // ncclCommAbort can block for good while the stream waits on a peer that will not deliver,
    // and nothing watches this communicator any more: it runs on a thread of its own with the
    // handle, which is never freed. Freeing device memory synchronises the device, which would
    // never return either: the exchange memory is left to the process's end, near on this path.
    auto* handle = new NcclCommHandle(std::move(comm_));
    std::thread([handle] { handle->abort(); }).detach();
    for (auto& w : windows_) (void)w.release();
    for (auto& m : peer_buffers_) (void)m.release();
    (void)peer_flags_.release();
  }
}

std::unique_ptr<NcclCommunicator> NcclCommunicator::world(runtime::Topology topology) {
  int rank = 0, size = 0, device = 0;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
  CUDA_CHECK(cudaGetDevice(&device));
  ncclUniqueId id{};
  if (rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Ibcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD, &request));
  runtime::wait_or_throw(&request, 1, "broadcast of the NCCL unique id");

  ncclComm_t comm = nullptr;
  ncclConfig_t config = nccl_config(/*blocking=*/false);
  NCCL_CHECK(ncclCommInitRankConfig(&comm, size, id, rank, &config));
  settle(comm, "ncclCommInitRankConfig (world)");
  MPI_Comm diag = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &diag));
  MPI_CHECK(MPI_Comm_set_errhandler(diag, MPI_ERRORS_RETURN));
  std::vector<int> all(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) all[static_cast<size_t>(r)] = r;
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(comm, MpiCommHandle(diag), "world", std::move(all), rank, std::move(topology), device));
}

std::unique_ptr<NcclCommunicator> NcclCommunicator::split(std::vector<int> world_ranks, std::string name) {
  const int me = world_rank_of(rank_);
  auto it = std::find(world_ranks.begin(), world_ranks.end(), me);
  PARDIT_CHECK(it != world_ranks.end(), "world rank {} is not in its own {} group", me, name);
  const int key = static_cast<int>(it - world_ranks.begin());
  const int color = *std::min_element(world_ranks.begin(), world_ranks.end());
  // The MPI twin first (MPI_Comm_split blocks: bound it with a barrier on the parent's twin).
  runtime::deadline_barrier(diag_.get(), fmt::format("creating the {} communicator", name));
  MPI_Comm diag = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(diag_.get(), color, key, &diag));
  MPI_CHECK(MPI_Comm_set_errhandler(diag, MPI_ERRORS_RETURN));
  MpiCommHandle diag_handle(diag);
  ncclComm_t comm = nullptr;
  ncclConfig_t config = nccl_config(blocking_axis_communicators());
  // Windows are registered by blocking calls: only on blocking communicators.
  const bool symmetric = symmetric_exchanges() && blocking_axis_communicators();
#ifdef PARDIT_NCCL_COPY_ENGINE_ALLTOALL
  if (symmetric) config.CTAPolicy = NCCL_CTA_POLICY_ZERO;
#endif
  {
    mark_host_call("ncclCommSplit", sequence_);  // a blocking split waits for the group's members
    const HostCall call(this);
    NCCL_CHECK(ncclCommSplit(comm_.get(), color, key, &comm, &config));
  }
  settle(comm_.get(), fmt::format("ncclCommSplit ({})", name));
  settle(comm, fmt::format("ncclCommSplit ({})", name));
  int count = 0;
  NCCL_CHECK(ncclCommCount(comm, &count));
  PARDIT_CHECK(count == static_cast<int>(world_ranks.size()), "ncclCommSplit for {} gave {} ranks, expected {}", name,
               count, world_ranks.size());
  std::unique_ptr<NcclCommunicator> child(
      new NcclCommunicator(comm, std::move(diag_handle), std::move(name), std::move(world_ranks), key, topology_, device_));
  child->symmetric_ = symmetric;
  // Peer exchanges need every member on this node (CUDA IPC); see [Note: peer exchanges].
  const int node = topology_.world_size() > me ? topology_.node_of(me) : -1;
  child->peer_ = peer_exchanges_wanted(static_cast<int>(child->world_ranks_.size())) && node >= 0 &&
                 std::all_of(child->world_ranks_.begin(), child->world_ranks_.end(), [&](int w) {
                   return w < topology_.world_size() && topology_.node_of(w) == node;
                 });
  // Every member must take the same path (each reads PARDIT_PEER_EXCHANGE itself): any "no" wins.
  int peer = child->peer_ ? 1 : 0, all_peer = 0;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Iallreduce(&peer, &all_peer, 1, MPI_INT, MPI_MIN, child->diag_.get(), &request));
  runtime::wait_or_throw(&request, 1, fmt::format("agreeing on the {} group's exchanges", child->name_));
  child->peer_ = all_peer != 0;
  return child;
}

void NcclCommunicator::abort() {
  // Not while this rank's thread is inside an NCCL call on it: freeing the communicator under
  // that call could crash the rank before abort_job reports; abort_job's MPI_Abort ends it anyway.
  if (host_call_deadline_.load() != 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  comm_.abort();
}

std::string NcclCommunicator::members() const {
  std::vector<std::string> hosts;
  for (int w : world_ranks_)
    hosts.push_back(w < topology_.world_size() ? topology_.rank(w).node_name : std::string("?"));
  return fmt::format("world ranks {} on {}", fmt::join(world_ranks_, ","), fmt::join(hosts, ","));
}

std::optional<std::string> NcclCommunicator::poll() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (comm_.aborted()) return std::nullopt;
  ncclResult_t state = ncclSuccess;
  if (ncclCommGetAsyncError(comm_.get(), &state) == ncclSuccess && state != ncclSuccess && state != ncclInProgress)
    return fmt::format("{}: NCCL error on {} group ({}): {} ({})", error_identity(), name_, members(),
                       ncclGetErrorString(state), ncclGetLastError(comm_.get()));
  const auto now = runtime::Clock::now();
  auto stalled = [&](const std::string& op, int64_t sequence, const char* what) {
    // See [Note: stall diagnosis]: the members whose watchdog timed out on the same operation answer.
    const runtime::StallDiagnosis d = runtime::diagnose_stall(diag_.get(), sequence);
    std::vector<std::string> silent;
    for (int r : d.silent) {
      const int w = world_rank_of(r);
      silent.push_back(fmt::format("rank {} (world rank {} on {})", r, w, runtime::node_name_of_world_rank(w)));
    }
    std::vector<std::string> elsewhere;
    for (auto [r, op_number] : d.elsewhere) elsewhere.push_back(fmt::format("rank {} at operation #{}", r, op_number));
    std::string suspects = silent.empty() ? std::string("every member's watchdog answered")
                                          : fmt::format("no answer from {}: stalled or dead", fmt::join(silent, ", "));
    if (!elsewhere.empty()) suspects += fmt::format("; {} (this rank at #{})", fmt::join(elsewhere, ", "), sequence);
    return fmt::format("{}: {} on {} group ({}) {} within {} s (PARDIT_COMM_TIMEOUT_S); {}", error_identity(), op,
                       name_, members(), what, runtime::comm_timeout_seconds(), suspects);
  };
  const int64_t host_deadline = host_call_deadline_.load();
  if (host_deadline != 0 && now.time_since_epoch().count() > host_deadline) {
    const int64_t sequence = host_call_sequence_.load();
    return stalled(fmt::format("{} #{}", host_call_op_.load(), sequence), sequence, "did not return to the host");
  }
  while (!pending_.empty()) {
    const Pending& p = pending_.front();
    const cudaError_t q = cudaEventQuery(p.done->get());
    if (q == cudaSuccess) {
      pending_.pop_front();
      continue;
    }
    if (q != cudaErrorNotReady)
      return fmt::format("{}: {} on {} group ({}): CUDA error {}", error_identity(), p.op, name_, members(),
                         cudaGetErrorString(q));
    if (now > p.deadline) return stalled(p.op, p.sequence, "did not complete");
    break;  // operations complete in order on the stream
  }
  return std::nullopt;
}

NcclCommunicator::HostCall NcclCommunicator::begin(const char* op, std::initializer_list<const at::Tensor*> tensors) {
  for (const at::Tensor* t : tensors) check_device(*t, device_, op);
  PARDIT_CHECK(!comm_.aborted(), "{} on {} group: the communicator was aborted after an earlier failure", op, name_);
  const cudaStream_t compute = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
  CUDA_CHECK(cudaEventRecord(ready_.get(), compute));
  CUDA_CHECK(cudaStreamWaitEvent(stream_.get(), ready_.get(), 0));
  ++sequence_;
  mark_host_call(op, sequence_);
  return HostCall{this};
}

void NcclCommunicator::mark_host_call(const char* op, int64_t sequence) {
  host_call_op_ = op;
  host_call_sequence_ = sequence;
  host_call_deadline_ = deadline_from_now().time_since_epoch().count();
}

std::shared_ptr<CudaEvent> NcclCommunicator::end(const char* op, const std::vector<const at::Tensor*>& tensors,
                                                 bool order_compute_now) {
  clear_host_call();
  // Non-blocking communicators may still be launching the group.
  settle(comm_.get(), fmt::format("{} #{} on {} group", op, sequence_, name_));
  auto done = std::make_shared<CudaEvent>();
  CUDA_CHECK(cudaEventRecord(done->get(), stream_.get()));
  const auto comm_stream = c10::cuda::getStreamFromExternal(stream_.get(), static_cast<c10::DeviceIndex>(device_));
  for (const at::Tensor* t : tensors)
    c10::cuda::CUDACachingAllocator::recordStream(t->storage().data_ptr(), comm_stream);
  if (order_compute_now)
    waits_->wait(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream(), done->get());
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.push_back(Pending{done, deadline_from_now(), fmt::format("{} #{}", op, sequence_), sequence_});
  return done;
}

std::shared_ptr<CudaEvent> NcclCommunicator::enqueue_all_to_all(const at::Tensor& in, at::Tensor& out,
                                                                 bool order_compute_now) {
  detail::CommTimer timer(stats_);
  check_all_to_all(in, out);
  if (peer_ && peer_buffer_of(out) != nullptr) {
    const int64_t rows = in.size(0) / size();
    std::vector<at::Tensor> send, recv;
    for (int p = 0; p < size(); ++p) {
      send.push_back(in.narrow(0, p * rows, rows));
      recv.push_back(out.narrow(0, p * rows, rows));
    }
    const HostCall call = begin("all_to_all", {&in, &out});
    PARDIT_CHECK(enqueue_peer_all_to_all(send, recv), "all_to_all on {}: peer exchange not enqueued", describe_group());
    return end("all_to_all", {&in, &out}, order_compute_now);
  }
  const HostCall call = begin("all_to_all", {&in, &out});
  const size_t block_nbytes = in.nbytes() / static_cast<size_t>(size());
  const auto* src = static_cast<const char*>(in.data_ptr());
  auto* dst = static_cast<char*>(out.data_ptr());
  // Equal splits as one group of sends and receives (bytes as ncclUint8: dtype-agnostic).
  const size_t total = block_nbytes * static_cast<size_t>(size());
  if (!enqueue_symmetric_all_to_all(src, dst, block_nbytes, in_window(src, total) || in_window(dst, total))) {
    NCCL_CHECK(ncclGroupStart());
    for (int peer = 0; peer < size(); ++peer) {
      NCCL_CHECK(ncclSend(src + peer * block_nbytes, block_nbytes, ncclUint8, peer, comm_.get(), stream_.get()));
      NCCL_CHECK(ncclRecv(dst + peer * block_nbytes, block_nbytes, ncclUint8, peer, comm_.get(), stream_.get()));
    }
    NCCL_CHECK(ncclGroupEnd());
  }
  stats_.bytes_sent += static_cast<int64_t>(block_nbytes) * (size() - 1);
  return end("all_to_all", {&in, &out}, order_compute_now);
}

RequestPtr NcclCommunicator::start_all_to_all(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv) {
  detail::CommTimer timer(stats_);
  const bool peer = peer_ && !recv.empty() && peer_buffer_of(recv.front()) != nullptr;
  check_all_to_all_pieces(send, recv, /*pitched=*/peer);
  for (const at::Tensor& t : send) check_device(t, device_, "all_to_all", /*laid_out=*/true);
  for (const at::Tensor& t : recv) check_device(t, device_, "all_to_all", /*laid_out=*/true);
  const HostCall call = begin("all_to_all", {});
  const size_t per_peer = send.size() / static_cast<size_t>(size());
  const size_t block = per_peer * send.front().nbytes();
  bool touches_window = false;
  for (size_t i = 0; i < send.size() && !peer; ++i)
    touches_window = touches_window || in_window(send[i].const_data_ptr(), send[i].nbytes()) ||
                     in_window(recv[i].const_data_ptr(), recv[i].nbytes());
  if (peer) {
    PARDIT_CHECK(enqueue_peer_all_to_all(send, recv), "all_to_all on {}: peer exchange not enqueued", describe_group());
  } else if (enqueue_symmetric_all_to_all(contiguous_blocks(send), const_cast<char*>(contiguous_blocks(recv)), block,
                                          touches_window)) {
    stats_.bytes_sent += static_cast<int64_t>(block) * (size() - 1);
  } else {
    NCCL_CHECK(ncclGroupStart());
    for (size_t i = 0; i < send.size(); ++i) {
      const int peer = static_cast<int>(i / per_peer);
      NCCL_CHECK(ncclSend(send[i].const_data_ptr(), send[i].nbytes(), ncclUint8, peer, comm_.get(), stream_.get()));
      NCCL_CHECK(ncclRecv(recv[i].data_ptr(), recv[i].nbytes(), ncclUint8, peer, comm_.get(), stream_.get()));
      if (peer != rank_) stats_.bytes_sent += static_cast<int64_t>(send[i].nbytes());
    }
    NCCL_CHECK(ncclGroupEnd());
  }
  std::vector<const at::Tensor*> used;
  for (const at::Tensor& t : send) used.push_back(&t);
  for (const at::Tensor& t : recv) used.push_back(&t);
  return std::make_unique<NcclRequest>(end("all_to_all", used, false), device_, waits_);
}

void NcclCommunicator::all_to_all(const at::Tensor& in, at::Tensor& out) { enqueue_all_to_all(in, out, true); }

RequestPtr NcclCommunicator::start_all_to_all(const at::Tensor& in, at::Tensor& out) {
  return std::make_unique<NcclRequest>(enqueue_all_to_all(in, out, false), device_, waits_);
}

void NcclCommunicator::all_gather(const at::Tensor& in, at::Tensor& out) {
  detail::CommTimer timer(stats_);
  check_all_gather(in, out);
  const HostCall call = begin("all_gather", {&in, &out});
  NCCL_CHECK(ncclAllGather(in.data_ptr(), out.data_ptr(), in.nbytes(), ncclUint8, comm_.get(), stream_.get()));
  end("all_gather", {&in, &out}, true);
  stats_.bytes_sent += static_cast<int64_t>(in.nbytes()) * (size() - 1);
}

void NcclCommunicator::all_reduce(at::Tensor& tensor, ReduceOp op) {
  detail::CommTimer timer(stats_);
  PARDIT_CHECK(!(tensor.scalar_type() == at::kBool && op == ReduceOp::sum), "all_reduce: sum of booleans; use max");
  const HostCall call = begin("all_reduce", {&tensor});
  const size_t count = static_cast<size_t>(tensor.numel());  // elements, not bytes
  NCCL_CHECK(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), count, nccl_type(tensor.scalar_type()),
                           op == ReduceOp::sum ? ncclSum : ncclMax, comm_.get(), stream_.get()));
  end("all_reduce", {&tensor}, true);
  stats_.bytes_sent += 2 * static_cast<int64_t>(tensor.nbytes()) * (size() - 1) / size();
}

void NcclCommunicator::broadcast(at::Tensor& tensor, int root) {
  detail::CommTimer timer(stats_);
  PARDIT_CHECK(root >= 0 && root < size(), "broadcast on {}: root {} outside 0..{}", describe_group(), root, size() - 1);
  const HostCall call = begin("broadcast", {&tensor});
  NCCL_CHECK(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.nbytes(), ncclUint8, root, comm_.get(),
                           stream_.get()));
  end("broadcast", {&tensor}, true);
  if (rank_ == root) stats_.bytes_sent += static_cast<int64_t>(tensor.nbytes());
}

RequestPtr NcclCommunicator::isend(const at::Tensor& tensor, int peer) {
  detail::CommTimer timer(stats_);
  check_peer(peer, "isend");
  const HostCall call = begin("send", {&tensor});
  NCCL_CHECK(ncclSend(tensor.data_ptr(), tensor.nbytes(), ncclUint8, peer, comm_.get(), stream_.get()));
  auto done = end("send", {&tensor}, false);
  stats_.bytes_sent += static_cast<int64_t>(tensor.nbytes());
  return std::make_unique<NcclRequest>(std::move(done), device_, waits_);
}

RequestPtr NcclCommunicator::irecv(at::Tensor& tensor, int peer) {
  detail::CommTimer timer(stats_);
  check_peer(peer, "irecv");
  const HostCall call = begin("recv", {&tensor});
  NCCL_CHECK(ncclRecv(tensor.data_ptr(), tensor.nbytes(), ncclUint8, peer, comm_.get(), stream_.get()));
  return std::make_unique<NcclRequest>(end("recv", {&tensor}, false), device_, waits_);
}

RequestPtr NcclCommunicator::exchange(const at::Tensor& send, int send_peer, at::Tensor& recv, int recv_peer) {
  detail::CommTimer timer(stats_);
  check_peer(send_peer, "exchange");
  check_peer(recv_peer, "exchange");
  const HostCall call = begin("exchange", {&send, &recv});
  NCCL_CHECK(ncclGroupStart());
  NCCL_CHECK(ncclSend(send.data_ptr(), send.nbytes(), ncclUint8, send_peer, comm_.get(), stream_.get()));
  NCCL_CHECK(ncclRecv(recv.data_ptr(), recv.nbytes(), ncclUint8, recv_peer, comm_.get(), stream_.get()));
  NCCL_CHECK(ncclGroupEnd());
  stats_.bytes_sent += static_cast<int64_t>(send.nbytes());
  return std::make_unique<NcclRequest>(end("exchange", {&send, &recv}, false), device_, waits_);
}

void NcclCommunicator::send(const at::Tensor& tensor, int peer) { isend(tensor, peer)->wait(); }

void NcclCommunicator::recv(at::Tensor& tensor, int peer) { irecv(tensor, peer)->wait(); }

double NcclCommunicator::take_wait_seconds() {
  stats_.wait_seconds += waits_->take();
  return Communicator::take_wait_seconds();
}

void NcclCommunicator::barrier() {
  at::Tensor token = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, device_));
  all_reduce(token);
}

}  // namespace pardit::comm
