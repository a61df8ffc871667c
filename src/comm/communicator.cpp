#include "pardit/comm/communicator.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "pardit/common/error.hpp"

namespace pardit::comm {

std::optional<PieceRows> piece_rows(const at::Tensor& t) {
  const int64_t element = static_cast<int64_t>(t.element_size());
  if (t.is_contiguous()) return PieceRows{1, t.numel() * element, t.numel() * element};
  if (t.dim() < 2) return std::nullopt;
  int64_t packed = 1;  // elements of one row, if the dimensions after the first are packed
  for (int64_t d = t.dim() - 1; d >= 1; --d) {
    if (t.size(d) != 1 && t.stride(d) != packed) return std::nullopt;
    packed *= t.size(d);
  }
  if (t.size(0) > 1 && t.stride(0) < packed) return std::nullopt;
  return PieceRows{t.size(0), packed * element, t.stride(0) * element};
}

std::vector<PeerCopy> plan_peer_copies(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv,
                                       int rank, int size, const char* recv_base, size_t recv_bytes,
                                       const std::string& what) {
  PARDIT_CHECK(size > 0 && rank >= 0 && rank < size && !send.empty() && send.size() == recv.size() &&
                   send.size() % static_cast<size_t>(size) == 0,
               "all_to_all on {}: {} send and {} receive pieces for {} ranks", what, send.size(), recv.size(), size);
  const size_t per_peer = send.size() / static_cast<size_t>(size);
  // Every receive piece in the buffer: the peers write theirs at the same offsets in their copies.
  for (size_t i = 0; i < recv.size(); ++i) {
    const auto to = piece_rows(recv[i]);
    const auto* at_ = static_cast<const char*>(recv[i].const_data_ptr());
    PARDIT_CHECK(to && (recv[i].numel() == 0 ||
                        (at_ >= recv_base && at_ + (to->rows - 1) * to->pitch + to->width <= recv_base + recv_bytes)),
                 "all_to_all on {}: receive piece {} is not in the exchange buffer that holds the others; take all "
                 "receive pieces from one exchange_buffer()",
                 what, i);
  }
  std::vector<PeerCopy> copies;
  for (int k = 1; k <= size; ++k) {
    const int p = (rank + k) % size;  // the peers first, then this rank
    for (size_t b = 0; b < per_peer; ++b) {
      const at::Tensor& from = send[static_cast<size_t>(p) * per_peer + b];
      const at::Tensor& own = recv[static_cast<size_t>(rank) * per_peer + b];
      const size_t index = static_cast<size_t>(p) * per_peer + b;
      const auto to = piece_rows(own), src = piece_rows(from);
      const auto* at_ = static_cast<const char*>(own.const_data_ptr());
      PARDIT_CHECK(to && src,
                   "all_to_all on {}: send piece {} or receive piece {} is neither contiguous nor row-pitched "
                   "(dimensions after the first packed)",
                   what, index, static_cast<size_t>(rank) * per_peer + b);
      const int64_t bytes = to->rows * to->width;
      PARDIT_CHECK(bytes == src->rows * src->width,
                   "all_to_all on {}: send piece {} (for rank {}) holds {} bytes but its receive piece holds {}; "
                   "pieces must match in size on every rank",
                   what, index, p, src->rows * src->width, bytes);
      if (bytes == 0) continue;
      // Peers write into the receive buffer at any time (no handshake): nothing may be sent from it
      // but the rank's own piece, in place.
      const auto* from_at = static_cast<const char*>(from.const_data_ptr());
      const bool overlaps = from_at < recv_base + recv_bytes && from_at + (src->rows - 1) * src->pitch + src->width > recv_base;
      PARDIT_CHECK(!overlaps || (p == rank && from_at == at_),
                   "all_to_all on {}: send piece {} lies in the receive buffer, which the peers write at any time; "
                   "send from other memory",
                   what, index);
      PeerCopy c{p, at_ - recv_base, static_cast<const char*>(from.const_data_ptr())};
      if (to->rows == 1 && src->rows == 1) {
        c.width = c.dst_pitch = c.src_pitch = bytes;
      } else {  // the side that is one contiguous row takes the other side's rows
        c.width = to->rows > 1 ? to->width : src->width;
        PARDIT_CHECK(bytes % c.width == 0 && (to->rows == 1 || src->rows == 1 || to->width == src->width),
                     "all_to_all on {}: send piece {} has rows of {} bytes and cannot land in rows of {}; give both "
                     "sides the same row shape",
                     what, index, src->width, to->width);
        c.rows = bytes / c.width;
        c.dst_pitch = to->rows > 1 ? to->pitch : c.width;
        c.src_pitch = src->rows > 1 ? src->pitch : c.width;
      }
      if (p == rank && c.src == at_ && c.dst_pitch == c.src_pitch) continue;  // already in place
      copies.push_back(c);
    }
  }
  return copies;
}

std::string Communicator::describe_group() const {
  return fmt::format("{} group [world ranks {}]", name_, fmt::join(world_ranks_, ","));
}

void Communicator::check_peer(int peer, const char* op) const {
  PARDIT_CHECK(peer >= 0 && peer < size() && peer != rank_, "{} on {}: peer {} is not another rank of 0..{}", op,
               describe_group(), peer, size() - 1);
}

void Communicator::check_all_to_all(const at::Tensor& in, const at::Tensor& out) const {
  PARDIT_CHECK(in.dim() >= 1 && in.size(0) % size() == 0,
               "all_to_all on {}: dim 0 of the input ({}) must be a multiple of the group size {}", describe_group(),
               in.dim() >= 1 ? in.size(0) : 0, size());
  PARDIT_CHECK(out.sizes() == in.sizes(), "all_to_all on {}: output shape {} != input shape {}", describe_group(),
               out.sizes(), in.sizes());
  PARDIT_CHECK(out.scalar_type() == in.scalar_type(), "all_to_all on {}: output dtype {} != input dtype {}",
               describe_group(), c10::toString(out.scalar_type()), c10::toString(in.scalar_type()));
  PARDIT_CHECK(in.is_contiguous() && out.is_contiguous(), "all_to_all on {}: tensors must be contiguous",
               describe_group());
}

void Communicator::check_all_to_all_pieces(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv,
                                           bool pitched) const {
  PARDIT_CHECK(!send.empty() && send.size() == recv.size() && send.size() % static_cast<size_t>(size()) == 0,
               "all_to_all on {}: {} send and {} receive pieces; both must be the same positive multiple of the "
               "group size {}",
               describe_group(), send.size(), recv.size(), size());
  for (size_t i = 0; i < send.size(); ++i) {
    PARDIT_CHECK(send[i].numel() == recv[i].numel() && send[i].scalar_type() == send[0].scalar_type() &&
                     recv[i].scalar_type() == send[0].scalar_type(),
                 "all_to_all on {}: piece {} sends {} {} elements but receives {} {} (one dtype for all pieces)",
                 describe_group(), i,
                 send[i].numel(), c10::toString(send[i].scalar_type()), recv[i].numel(),
                 c10::toString(recv[i].scalar_type()));
    auto laid_out = [&](const at::Tensor& t) { return pitched ? piece_rows(t).has_value() : t.is_contiguous(); };
    PARDIT_CHECK(laid_out(send[i]) && laid_out(recv[i]) && send[i].device() == send[0].device() &&
                     recv[i].device() == send[0].device(),
                 "all_to_all on {}: piece {} must be {} and on {}{}", describe_group(), i,
                 pitched ? "contiguous or row-pitched (dimensions after the first packed)" : "contiguous",
                 send[0].device().str(),
                 !pitched && piece_rows(send[i]) && piece_rows(recv[i])
                     ? " (row-pitched pieces are taken only with receive pieces in exchange_buffer() memory of a "
                       "backend whose pitched_exchanges() is true)"
                     : "");
  }
}

void Communicator::check_all_gather(const at::Tensor& in, const at::Tensor& out) const {
  PARDIT_CHECK(in.dim() >= 1 && out.dim() == in.dim(), "all_gather on {}: input and output need the same rank >= 1",
               describe_group());
  PARDIT_CHECK(out.size(0) == in.size(0) * size() && out.numel() == in.numel() * size(),
               "all_gather on {}: output shape {} must be input shape {} with dim 0 times {}", describe_group(),
               out.sizes(), in.sizes(), size());
  PARDIT_CHECK(out.scalar_type() == in.scalar_type(), "all_gather on {}: output dtype {} != input dtype {}",
               describe_group(), c10::toString(out.scalar_type()), c10::toString(in.scalar_type()));
  PARDIT_CHECK(in.is_contiguous() && out.is_contiguous(), "all_gather on {}: tensors must be contiguous",
               describe_group());
}

namespace {
class CompletedRequest final : public Request {
 public:
  void wait() override {}
};
}  // namespace

at::Tensor Communicator::exchange_buffer(int, at::IntArrayRef sizes, at::ScalarType dtype) {
  return at::empty(sizes, at::TensorOptions().dtype(dtype));  // host memory: the MPI backend's
}

RequestPtr Communicator::start_all_to_all(const at::Tensor& in, at::Tensor& out) {
  all_to_all(in, out);
  return std::make_unique<CompletedRequest>();
}

RequestPtr Communicator::start_all_to_all(const std::vector<at::Tensor>& send, const std::vector<at::Tensor>& recv) {
  check_all_to_all_pieces(send, recv);
  // Packed into one [size, n] buffer: every rank's block must hold the same number of elements.
  const size_t per_peer = send.size() / static_cast<size_t>(size());
  std::vector<int64_t> block(static_cast<size_t>(size()), 0);
  std::vector<at::Tensor> flat;
  flat.reserve(send.size());
  for (size_t i = 0; i < send.size(); ++i) {
    block[i / per_peer] += send[i].numel();
    flat.push_back(send[i].reshape({-1}));
  }
  PARDIT_CHECK(std::all_of(block.begin(), block.end(), [&](int64_t n) { return n == block[0]; }),
               "all_to_all on {}: the pieces for each rank must add up to the same number of elements ({})",
               describe_group(), fmt::join(block, ", "));
  if (block[0] == 0) return std::make_unique<CompletedRequest>();  // nothing to move
  const at::Tensor in = at::cat(flat).view({size(), -1});
  at::Tensor out = at::empty_like(in);
  all_to_all(in, out);
  const at::Tensor received = out.view({-1});
  int64_t offset = 0;
  for (const at::Tensor& t : recv) {  // views: copying into them fills the caller's buffers
    t.view({-1}).copy_(received.narrow(0, offset, t.numel()));
    offset += t.numel();
  }
  return std::make_unique<CompletedRequest>();
}

double Communicator::take_wait_seconds() {
  const double seconds = stats_.wait_seconds - wait_taken_;
  wait_taken_ = stats_.wait_seconds;
  return seconds;
}

}  // namespace pardit::comm
