// NcclCommunicator's exchange buffers: symmetric windows and the copy-engine all-to-all between
// them. See [Note: symmetric exchange buffers] in nccl_communicator.hpp.
#include <ATen/ATen.h>
#include <c10/util/accumulate.h>

#include <algorithm>

#include "pardit/comm/checks.hpp"
#include "pardit/comm/nccl_communicator.hpp"
#include "pardit/common/env.hpp"
#include "pardit/common/log.hpp"

namespace pardit::comm {

bool NcclCommunicator::symmetric_exchanges() {
#ifdef PARDIT_NCCL_COPY_ENGINE_ALLTOALL
  static const bool enabled = !env_is("PARDIT_NCCL_SYMMETRIC", "0");
  return enabled;
#else
  return false;
#endif
}

NcclCommunicator::SymmetricMemory::~SymmetricMemory() {
  if (ptr != nullptr) ncclMemFree(ptr);
}

at::Tensor NcclCommunicator::exchange_buffer(int slot, at::IntArrayRef sizes, at::ScalarType dtype) {
  const auto options = at::TensorOptions().dtype(dtype).device(at::kCUDA, static_cast<c10::DeviceIndex>(device_));
  if (!symmetric_ && !peer_) return at::empty(sizes, options);
  PARDIT_CHECK(slot >= 0 && slot < 64, "exchange_buffer on {}: slot {} outside 0..63", describe_group(), slot);
  const size_t bytes = static_cast<size_t>(c10::multiply_integers(sizes)) * c10::elementSize(dtype);
  if (peer_) {
    at::Tensor buffer = peer_exchange_buffer(slot, bytes, sizes, options);  // undefined: peer_ fell back
    if (buffer.defined()) return buffer;
    if (!symmetric_) return at::empty(sizes, options);
  }
  if (slots_.size() <= static_cast<size_t>(slot)) slots_.resize(static_cast<size_t>(slot) + 1, nullptr);
  SymmetricMemory*& current = slots_[static_cast<size_t>(slot)];
  if (current == nullptr || current->bytes < bytes) {
#ifdef PARDIT_NCCL_COPY_ENGINE_ALLTOALL
    // Whole 2 MiB pages (cuMem's granularity; windows need NCCL_WIN_REQUIRED_ALIGNMENT). The old
    // window stays registered: work queued on it may still be running.
    constexpr size_t page = size_t{2} << 20;
    auto memory = std::make_unique<SymmetricMemory>();
    memory->bytes = std::max(page, (bytes + page - 1) / page * page);
    NCCL_CHECK(ncclMemAlloc(&memory->ptr, memory->bytes));
    ncclWindow_t window = nullptr;
    {
      mark_host_call("ncclCommWindowRegister", sequence_);  // waits for the group's members
      const HostCall call(this);
      NCCL_CHECK(ncclCommWindowRegister(comm_.get(), memory->ptr, memory->bytes, &window, NCCL_WIN_COLL_SYMMETRIC));
    }
    current = memory.get();
    windows_.push_back(std::move(memory));
#endif
  }
  return at::from_blob(current->ptr, sizes, options);
}

bool NcclCommunicator::in_window(const void* ptr, size_t bytes) const {
  const auto* p = static_cast<const char*>(ptr);
  for (const auto& w : windows_) {
    const auto* base = static_cast<const char*>(w->ptr);
    if (p >= base && p + bytes <= base + w->bytes) return true;
  }
  return false;
}

bool NcclCommunicator::enqueue_symmetric_all_to_all(const void* send, void* recv, size_t block, bool touches_window) {
  if (!touches_window) return false;
#ifdef PARDIT_NCCL_COPY_ENGINE_ALLTOALL
  const size_t total = block * static_cast<size_t>(size());
  PARDIT_CHECK(send != nullptr && recv != nullptr && in_window(send, total) && in_window(recv, total),
               "all_to_all on {}: part of it lies in exchange buffers (exchange_buffer()) and part does not, or "
               "its blocks are not back to back; NCCL mis-delivers such a mix: take all of it from exchange "
               "buffers, one block per peer in order, or none of it",
               describe_group());
  if (!announced_symmetric_) {
    log::info("{}: all_to_all between symmetric windows (ncclAlltoAll on the copy engines)", describe_group());
    announced_symmetric_ = true;
  }
  NCCL_CHECK(ncclAlltoAll(send, recv, block, ncclUint8, comm_.get(), stream_.get()));
  return true;
#else
  (void)send, (void)recv, (void)block;
  return false;
#endif
}

}  // namespace pardit::comm
