#include "pardit/comm/mpi_communicator.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <exception>
#include <thread>

#include "comm_timer.hpp"
#include "pardit/comm/checks.hpp"
#include "pardit/runtime/abort.hpp"
#include "pardit/runtime/deadline.hpp"

namespace pardit::comm {
namespace {

constexpr int kDataTag = 0;

MPI_Datatype reduce_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kChar: return MPI_INT8_T;
    case at::kByte: return MPI_UINT8_T;
    case at::kShort: return MPI_INT16_T;
    case at::kInt: return MPI_INT32_T;
    case at::kLong: return MPI_INT64_T;
    case at::kBool: return MPI_C_BOOL;
    default: return MPI_DATATYPE_NULL;
  }
}

// MPI counts are int: the byte count of one message must fit.
int byte_count(const at::Tensor& t, const char* op) {
  const int64_t nbytes = static_cast<int64_t>(t.nbytes());
  PARDIT_CHECK(nbytes <= INT_MAX, "{}: {} bytes exceed the MPI message limit of {} bytes", op, nbytes, INT_MAX);
  return static_cast<int>(nbytes);
}

void check_host(const at::Tensor& t, const char* op) {
  PARDIT_CHECK(t.device().is_cpu(), "{} on the MPI backend needs a host tensor, got one on {}", op, t.device().str());
  PARDIT_CHECK(t.is_contiguous(), "{}: tensor must be contiguous", op);
}

class MpiRequest final : public Request {
 public:
  MpiRequest(MpiCommunicator* comm, MPI_Request request, const char* op, int peer)
      : comm_(comm), request_(request), op_(op), peer_(peer) {}
  ~MpiRequest() override {
    if (done_ || std::uncaught_exceptions() > 0) return;
    try {
      wait();
    } catch (const std::exception& e) {
      runtime::abort_job(e, runtime::exit_code_of(e));
    }
  }
  void wait() override {
    if (done_) return;
    done_ = true;
    comm_->complete(&request_, 1, op_, peer_);
  }

 private:
  MpiCommunicator* comm_;
  MPI_Request request_;
  const char* op_;
  int peer_;
  bool done_ = false;
};

}  // namespace

MpiCommHandle::~MpiCommHandle() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

MpiCommHandle& MpiCommHandle::operator=(MpiCommHandle&& other) noexcept {
  if (this != &other) {
    MpiCommHandle old(release());
    comm_ = other.release();
  }
  return *this;
}

MpiCommunicator::MpiCommunicator(MPI_Comm parent, std::vector<int> world_ranks, std::string name,
                                 runtime::Topology topology)
    : Communicator(std::move(name), world_ranks, -1), topology_(std::move(topology)) {
  int world_rank = 0;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
  auto it = std::find(world_ranks.begin(), world_ranks.end(), world_rank);
  PARDIT_CHECK(it != world_ranks.end(), "world rank {} is not in its own {}", world_rank, describe_group());
  rank_ = static_cast<int>(it - world_ranks.begin());

  // MPI_Comm_split has no non-blocking form: make sure every rank is here before entering it.
  runtime::deadline_barrier(parent, fmt::format("creating the {} communicator", name_));
  MPI_Comm comm = MPI_COMM_NULL;
  const int color = *std::min_element(world_ranks.begin(), world_ranks.end());
  MPI_CHECK(MPI_Comm_split(parent, color, rank_, &comm));
  comm_ = MpiCommHandle(comm);
  MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  int size = 0;
  MPI_CHECK(MPI_Comm_size(comm, &size));
  PARDIT_CHECK(size == this->size(), "{}: MPI_Comm_split gave {} ranks; do all members pass the same list?",
               describe_group(), size);
  MPI_Comm diag = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(comm, &diag));
  diag_comm_ = MpiCommHandle(diag);
  MPI_CHECK(MPI_Comm_set_errhandler(diag, MPI_ERRORS_RETURN));
}

std::unique_ptr<MpiCommunicator> MpiCommunicator::world(runtime::Topology topology) {
  int size = 0;
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
  std::vector<int> all(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) all[static_cast<size_t>(r)] = r;
  return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, std::move(all), "world", std::move(topology));
}

std::string MpiCommunicator::host_of(int group_rank) const {
  const int w = world_rank_of(group_rank);
  if (w < topology_.world_size()) return fmt::format("world rank {} on {}", w, topology_.rank(w).node_name);
  return fmt::format("world rank {} on {}", w, runtime::node_name_of_world_rank(w));
}

// See [Note: stall diagnosis] in runtime/deadline.hpp.
std::string MpiCommunicator::diagnose(const char* op) {
  const runtime::StallDiagnosis d = runtime::diagnose_stall(diag_comm_.get(), sequence_);
  std::vector<std::string> silent, elsewhere;
  for (int r : d.silent) silent.push_back(fmt::format("rank {} ({})", r, host_of(r)));
  for (auto [r, op_number] : d.elsewhere)
    elsewhere.push_back(fmt::format("rank {} ({}) is at operation #{}", r, host_of(r), op_number));
  std::string text;
  if (!silent.empty()) text += fmt::format("no answer from {}: stalled or dead", fmt::join(silent, ", "));
  if (!elsewhere.empty())
    text += fmt::format("{}{}, this rank at #{} ({}): collectives called in different orders?",
                        text.empty() ? "" : "; ", fmt::join(elsewhere, ", "), sequence_, op);
  if (text.empty()) text = "every member answered: a rank outside this group may be holding it up";
  return text;
}

void MpiCommunicator::complete(MPI_Request* requests, int count, const char* op, int peer) {
  const double timeout = runtime::comm_timeout_seconds();
  const auto start = std::chrono::steady_clock::now();
  const bool done = runtime::wait_with_deadline(requests, count, timeout);
  stats_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (done) return;
  const std::string with = peer >= 0 ? fmt::format(" with rank {} ({})", peer, host_of(peer)) : "";
  const std::string suspects = peer >= 0 ? std::string("the peer stalled or died") : diagnose(op);
  throw CommError(fmt::format("{}: {} #{} on {}{} timed out after {} s (PARDIT_COMM_TIMEOUT_S); {}",
                              error_identity(), op, sequence_, describe_group(), with, timeout, suspects));
}

void MpiCommunicator::all_to_all(const at::Tensor& in, at::Tensor& out) {
  detail::CommTimer timer(stats_);
  check_all_to_all(in, out);
  check_host(in, "all_to_all");
  check_host(out, "all_to_all");
  ++sequence_;
  const int block_bytes = byte_count(in, "all_to_all") / size();
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Ialltoall(in.data_ptr(), block_bytes, MPI_BYTE, out.data_ptr(), block_bytes, MPI_BYTE, comm_.get(),
                          &request));
  complete(&request, 1, "all_to_all", -1);
  stats_.bytes_sent += static_cast<int64_t>(block_bytes) * (size() - 1);
}

void MpiCommunicator::all_gather(const at::Tensor& in, at::Tensor& out) {
  detail::CommTimer timer(stats_);
  check_all_gather(in, out);
  check_host(in, "all_gather");
  check_host(out, "all_gather");
  byte_count(out, "all_gather");
  ++sequence_;
  const int in_bytes = byte_count(in, "all_gather");
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Iallgather(in.data_ptr(), in_bytes, MPI_BYTE, out.data_ptr(), in_bytes, MPI_BYTE, comm_.get(),
                           &request));
  complete(&request, 1, "all_gather", -1);
  stats_.bytes_sent += static_cast<int64_t>(in_bytes) * (size() - 1);
}

void MpiCommunicator::all_reduce(at::Tensor& tensor, ReduceOp op) {
  check_host(tensor, "all_reduce");
  // Half and bfloat16 have no MPI type: reduce in float32 (more accurate than NCCL's in-type sums).
  if (tensor.scalar_type() == at::kHalf || tensor.scalar_type() == at::kBFloat16) {
    at::Tensor wide = tensor.to(at::kFloat);
    all_reduce(wide, op);
    tensor.copy_(wide);
    return;
  }
  detail::CommTimer timer(stats_);
  const MPI_Datatype type = reduce_type(tensor.scalar_type());
  PARDIT_CHECK(type != MPI_DATATYPE_NULL, "all_reduce on {}: dtype {} is not supported", describe_group(),
               c10::toString(tensor.scalar_type()));
  const int64_t count = tensor.numel();  // elements, not bytes
  PARDIT_CHECK(count <= INT_MAX, "all_reduce: {} elements exceed the MPI count limit", count);
  MPI_Op mpi_op = op == ReduceOp::sum ? MPI_SUM : MPI_MAX;
  if (tensor.scalar_type() == at::kBool) mpi_op = MPI_LOR;  // sum and max of booleans are "any"
  ++sequence_;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(count), type, mpi_op, comm_.get(),
                           &request));
  complete(&request, 1, "all_reduce", -1);
  // Ring all-reduce traffic (nccl-tests bus bandwidth convention): 2 (n-1)/n of the buffer.
  stats_.bytes_sent += 2 * static_cast<int64_t>(tensor.nbytes()) * (size() - 1) / size();
}

void MpiCommunicator::broadcast(at::Tensor& tensor, int root) {
  detail::CommTimer timer(stats_);
  check_host(tensor, "broadcast");
  PARDIT_CHECK(root >= 0 && root < size(), "broadcast on {}: root {} outside 0..{}", describe_group(), root,
               size() - 1);
  ++sequence_;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Ibcast(tensor.data_ptr(), byte_count(tensor, "broadcast"), MPI_BYTE, root, comm_.get(), &request));
  complete(&request, 1, "broadcast", -1);
  if (rank_ == root) stats_.bytes_sent += static_cast<int64_t>(tensor.nbytes());
}

RequestPtr MpiCommunicator::isend(const at::Tensor& tensor, int peer) {
  detail::CommTimer timer(stats_);
  check_host(tensor, "isend");
  check_peer(peer, "isend");
  ++sequence_;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Isend(tensor.data_ptr(), byte_count(tensor, "isend"), MPI_BYTE, peer, kDataTag, comm_.get(), &request));
  stats_.bytes_sent += static_cast<int64_t>(tensor.nbytes());
  return std::make_unique<MpiRequest>(this, request, "send", peer);
}

RequestPtr MpiCommunicator::irecv(at::Tensor& tensor, int peer) {
  detail::CommTimer timer(stats_);
  check_host(tensor, "irecv");
  check_peer(peer, "irecv");
  ++sequence_;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Irecv(tensor.data_ptr(), byte_count(tensor, "irecv"), MPI_BYTE, peer, kDataTag, comm_.get(), &request));
  return std::make_unique<MpiRequest>(this, request, "recv", peer);
}

namespace {
class MpiPairRequest final : public Request {
 public:
  MpiPairRequest(RequestPtr first, RequestPtr second) : first_(std::move(first)), second_(std::move(second)) {}
  void wait() override {
    first_->wait();
    second_->wait();
  }

 private:
  RequestPtr first_, second_;
};
}  // namespace

RequestPtr MpiCommunicator::exchange(const at::Tensor& send, int send_peer, at::Tensor& recv, int recv_peer) {
  auto r = irecv(recv, recv_peer);  // post the receive first: the eager send then lands directly
  auto s = isend(send, send_peer);
  return std::make_unique<MpiPairRequest>(std::move(r), std::move(s));
}

void MpiCommunicator::send(const at::Tensor& tensor, int peer) {
  auto request = isend(tensor, peer);
  detail::CommTimer timer(stats_);
  request->wait();
}

void MpiCommunicator::recv(at::Tensor& tensor, int peer) {
  auto request = irecv(tensor, peer);
  detail::CommTimer timer(stats_);
  request->wait();
}

void MpiCommunicator::barrier() {
  detail::CommTimer timer(stats_);
  ++sequence_;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Ibarrier(comm_.get(), &request));
  complete(&request, 1, "barrier", -1);
}

}  // namespace pardit::comm
