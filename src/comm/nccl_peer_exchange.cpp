// NcclCommunicator's peer exchanges: all-to-alls between exchange buffers moved by this rank's own
// copies into its peers' memory. See [Note: peer exchanges] in nccl_communicator.hpp.
#include <ATen/ATen.h>
#include <cuda.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <string>

#include "pardit/comm/checks.hpp"
#include "pardit/comm/nccl_communicator.hpp"
#include "pardit/common/env.hpp"
#include "pardit/common/log.hpp"

namespace pardit::comm {
namespace {

void check_driver(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return;
  const char* text = nullptr;
  cuGetErrorString(r, &text);
  throw CommError(fmt::format("{} {}: CUDA driver error {}", error_identity(), what, text ? text : "(unknown)"));
}

}  // namespace

bool NcclCommunicator::peer_exchanges_wanted(int members) {
  // Measured faster than NCCL's windows for two members; beyond two the copies to the peers run one
  // after another on one stream, not yet measured against NCCL (no 4-GPU machine): asked for only.
  if (env_is("PARDIT_PEER_EXCHANGE", "1")) return true;
  return members == 2 && !env_is("PARDIT_PEER_EXCHANGE", "0");
}

NcclCommunicator::PeerMemory::~PeerMemory() {
  for (char* p : peers)
    if (p != nullptr && p != local) cudaIpcCloseMemHandle(p);
  if (local != nullptr) cudaFree(local);
}

std::unique_ptr<NcclCommunicator::PeerMemory> NcclCommunicator::share_peer_memory(int slot, size_t bytes) {
  auto memory = std::make_unique<PeerMemory>();
  memory->bytes = bytes;
  memory->peers.assign(static_cast<size_t>(size()), nullptr);
  // Every failure below is local: it is logged with its cause, and all members agree on the outcome.
  struct Share {
    cudaIpcMemHandle_t handle{};
    int64_t bytes = 0;
    int32_t slot = 0;
  } mine;
  mine.bytes = static_cast<int64_t>(bytes);
  mine.slot = slot;
  int ok = 1;
  auto failed = [&](cudaError_t e, const char* what) {
    if (e == cudaSuccess) return false;
    cudaGetLastError();
    log::warn("{}: {} for a {} byte peer exchange buffer failed: {}", describe_group(), what, bytes,
              cudaGetErrorString(e));
    ok = 0;
    return true;
  };
  // Zeroed (the flags start at 0) and synchronised before any peer can know the memory: from then
  // on a peer may write into it at any time.
  (void)(failed(cudaMalloc(reinterpret_cast<void**>(&memory->local), bytes), "cudaMalloc") ||
         failed(cudaMemsetAsync(memory->local, 0, bytes, stream_.get()), "cudaMemsetAsync") ||
         failed(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize") ||
         failed(cudaIpcGetMemHandle(&mine.handle, memory->local), "cudaIpcGetMemHandle"));
  std::vector<Share> shares(static_cast<size_t>(size()));
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Iallgather(&mine, sizeof(Share), MPI_BYTE, shares.data(), sizeof(Share), MPI_BYTE, diag_.get(),
                           &request));
  runtime::wait_or_throw(&request, 1, fmt::format("IPC handles of the {} group's exchange buffers", name_));
  // The handles pair up by call order: every member must be sharing the same slot and size.
  std::vector<std::string> asked;
  bool same = true;
  for (const Share& sh : shares) {
    asked.push_back(fmt::format("slot {} of {} bytes", sh.slot, sh.bytes));
    same = same && sh.slot == mine.slot && sh.bytes == mine.bytes;
  }
  PARDIT_CHECK(same,
               "exchange_buffer on {}: the members asked for different buffers ({}, by rank); exchange_buffer is "
               "collective: every member must call it with the same slots and sizes in the same order",
               describe_group(), fmt::join(asked, "; "));
  for (int p = 0; p < size() && ok; ++p) {
    if (p == rank_) {
      memory->peers[static_cast<size_t>(p)] = memory->local;
      continue;
    }
    void* mapped = nullptr;
    if (failed(cudaIpcOpenMemHandle(&mapped, shares[static_cast<size_t>(p)].handle, cudaIpcMemLazyEnablePeerAccess),
               fmt::format("cudaIpcOpenMemHandle of rank {}'s memory", p).c_str()))
      break;
    memory->peers[static_cast<size_t>(p)] = static_cast<char*>(mapped);
  }
  int all_ok = 0;
  MPI_CHECK(MPI_Iallreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, diag_.get(), &request));
  runtime::wait_or_throw(&request, 1, fmt::format("mapping the {} group's exchange buffers", name_));
  if (all_ok == 0) return nullptr;
  return memory;
}

at::Tensor NcclCommunicator::peer_exchange_buffer(int slot, size_t bytes, at::IntArrayRef sizes,
                                                  const at::TensorOptions& options) {
  if (!peer_flags_) {
    // Stream memory operations (the flags) are always there from CUDA 12 on; CUDA IPC may not be
    // (containers without a shared IPC namespace): then every member falls back together.
    peer_flags_ = share_peer_memory(-1, sizeof(uint32_t) * static_cast<size_t>(size()));
    if (!peer_flags_) {
      log::warn("{}: peer exchanges are not possible here (CUDA IPC failed on a member: its warning says "
                "why); using {}",
                describe_group(), symmetric_ ? "NCCL's symmetric windows" : "NCCL kernels from ordinary memory");
      peer_ = false;
      return at::Tensor();
    }
    log::info("{}: all_to_all between exchange buffers by peer copies (CUDA IPC, stream flags)", describe_group());
  }
  if (peer_slots_.size() <= static_cast<size_t>(slot)) peer_slots_.resize(static_cast<size_t>(slot) + 1, nullptr);
  PeerMemory*& current = peer_slots_[static_cast<size_t>(slot)];
  if (current == nullptr || current->bytes < bytes) {
    // The old buffer stays mapped: copies queued into it may still be running.
    std::unique_ptr<PeerMemory> memory = share_peer_memory(slot, std::max<size_t>(bytes, 256));
    PARDIT_CHECK(memory != nullptr,
                 "exchange_buffer on {}: sharing a {} byte peer buffer failed on a member (CUDA IPC; its warning "
                 "says why); run with PARDIT_PEER_EXCHANGE=0 to leave the exchanges to NCCL",
                 describe_group(), bytes);
    current = memory.get();
    peer_buffers_.push_back(std::move(memory));
  }
  return at::from_blob(current->local, sizes, options);
}

const NcclCommunicator::PeerMemory* NcclCommunicator::peer_buffer_of(const at::Tensor& t) const {
  const auto* p = static_cast<const char*>(t.const_data_ptr());
  for (const auto& m : peer_buffers_)
    if (p >= m->local && p < m->local + m->bytes) return m.get();
  return nullptr;
}

bool NcclCommunicator::enqueue_peer_all_to_all(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv) {
  if (!peer_) return false;
  const PeerMemory* buffer = peer_buffer_of(recv.front());
  if (buffer == nullptr) return false;
  const std::vector<PeerCopy> copies =
      plan_peer_copies(send, recv, rank_, size(), buffer->local, buffer->bytes, describe_group());
  auto issue = [&](const PeerCopy& c) {
    char* dst = buffer->peers[static_cast<size_t>(c.peer)] + c.offset;
    if (c.rows == 1)  // no pitch limit on one row
      CUDA_CHECK(cudaMemcpyAsync(dst, c.src, static_cast<size_t>(c.width), cudaMemcpyDeviceToDevice, stream_.get()));
    else
      CUDA_CHECK(cudaMemcpy2DAsync(dst, static_cast<size_t>(c.dst_pitch), c.src, static_cast<size_t>(c.src_pitch),
                                   static_cast<size_t>(c.width), static_cast<size_t>(c.rows),
                                   cudaMemcpyDeviceToDevice, stream_.get()));
  };
  // The peers' copies, their flags, then this rank's own piece while the peers' data arrives.
  for (const PeerCopy& c : copies)
    if (c.peer != rank_) {
      issue(c);
      stats_.bytes_sent += c.rows * c.width;
    }
  ++peer_epoch_;
  const auto stream = reinterpret_cast<CUstream>(stream_.get());
  const size_t me = sizeof(uint32_t) * static_cast<size_t>(rank_);
  for (int p = 0; p < size(); ++p)
    if (p != rank_)
      check_driver(cuStreamWriteValue32(stream, reinterpret_cast<CUdeviceptr>(peer_flags_->peers[static_cast<size_t>(p)] + me),
                                        peer_epoch_, CU_STREAM_WRITE_VALUE_DEFAULT),
                   "peer all_to_all: cuStreamWriteValue32 (PARDIT_PEER_EXCHANGE=0 avoids it)");
  for (const PeerCopy& c : copies)
    if (c.peer == rank_) issue(c);
  for (int p = 0; p < size(); ++p)
    if (p != rank_)
      check_driver(cuStreamWaitValue32(stream,
                                       reinterpret_cast<CUdeviceptr>(peer_flags_->local + sizeof(uint32_t) * static_cast<size_t>(p)),
                                       peer_epoch_, CU_STREAM_WAIT_VALUE_GEQ),
                   "peer all_to_all: cuStreamWaitValue32 (PARDIT_PEER_EXCHANGE=0 avoids it)");
  return true;
}

}  // namespace pardit::comm
