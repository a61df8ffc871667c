// The data movement of pardit's peer exchanges, without GPUs ([Note: peer exchanges] in
// nccl_communicator.hpp): piece_rows, and plan_peer_copies for 2-8 members, one or two pieces per
// peer, contiguous (Ulysses' q/k/v) and row-pitched (its gathered output) receive pieces. Every
// member's plan is applied to host buffers as the copy engines would (rows of `width` bytes), and
// every member must end up with each peer's piece where an all_to_all puts it.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "pardit/comm/communicator.hpp"
#include "pardit/common/error.hpp"

TEST(PieceRows, ContiguousPitchedAndRefused) {
  const at::Tensor t = at::zeros({6, 4, 3, 8}, at::kBFloat16);  // [S, U, Hl, D]
  const auto whole = pardit::comm::piece_rows(t);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->rows, 1);
  EXPECT_EQ(whole->width, 6 * 4 * 3 * 8 * 2);
  const auto column = pardit::comm::piece_rows(t.select(1, 2));  // Ulysses' gather piece
  ASSERT_TRUE(column);
  EXPECT_EQ(column->rows, 6);
  EXPECT_EQ(column->width, 3 * 8 * 2);
  EXPECT_EQ(column->pitch, 4 * 3 * 8 * 2);
  EXPECT_EQ(pardit::comm::piece_rows(t.narrow(0, 1, 2))->rows, 1);  // rows of a contiguous tensor
  EXPECT_FALSE(pardit::comm::piece_rows(t.select(3, 0)));           // inner dims not packed
  EXPECT_FALSE(pardit::comm::piece_rows(t.transpose(0, 1)));        // dims after the first not packed
  EXPECT_FALSE(pardit::comm::piece_rows(at::zeros({8}).slice(0, 0, 8, 2)));  // strided vector
}

namespace {

using pardit::comm::plan_peer_copies;

// Member r's send tensor: the value names (sender, receiver, batch entry, element).
at::Tensor sent_by(int r, int n, int64_t B, int64_t S, int64_t W) {
  at::Tensor t = at::empty({B, n * S, W}, at::kFloat);
  auto a = t.accessor<float, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int p = 0; p < n; ++p)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t w = 0; w < W; ++w) a[b][p * S + s][w] = static_cast<float>(((r * 10 + p) * 10 + b) * 1000 + s * W + w);
  return t;
}

// Runs one all_to_all of n members through their plans; `pitched`: the receive buffer is
// [B, S, n, W] and piece p is its column p (Ulysses' gather), else [B, n*S, W] and rows p*S.. .
void exchange_and_check(int n, int64_t B, bool pitched) {
  const int64_t S = 3, W = 5;
  std::vector<at::Tensor> buffers, sends;
  std::vector<std::vector<at::Tensor>> send_pieces(n), recv_pieces(n);
  for (int r = 0; r < n; ++r) {
    buffers.push_back(at::full(pitched ? std::vector<int64_t>{B, S, n, W} : std::vector<int64_t>{B, n * S, W}, -1.0f));
    sends.push_back(sent_by(r, n, B, S, W));
    for (int p = 0; p < n; ++p)
      for (int64_t b = 0; b < B; ++b) {
        send_pieces[r].push_back(sends[r][b].narrow(0, p * S, S));
        recv_pieces[r].push_back(pitched ? buffers[r][b].select(1, p) : buffers[r][b].narrow(0, p * S, S));
      }
  }
  for (int r = 0; r < n; ++r) {
    const auto* base = static_cast<const char*>(buffers[r].const_data_ptr());
    const auto copies = plan_peer_copies(send_pieces[r], recv_pieces[r], r, n, base, buffers[r].nbytes(), "test");
    int own = 0;
    for (size_t i = 0; i < copies.size(); ++i) {
      const auto& c = copies[i];
      ASSERT_GE(c.peer, 0);
      ASSERT_LT(c.peer, n);
      if (c.peer == r) ++own;
      else EXPECT_EQ(own, 0) << "the rank's own piece goes after the peers'";
      char* dst = static_cast<char*>(buffers[c.peer].data_ptr()) + c.offset;
      for (int64_t row = 0; row < c.rows; ++row) std::memcpy(dst + row * c.dst_pitch, c.src + row * c.src_pitch, c.width);
    }
    EXPECT_EQ(own, B) << "the own piece is copied (it is not in place here)";
    EXPECT_EQ(copies.size(), static_cast<size_t>(n * B));
  }
  for (int r = 0; r < n; ++r)
    for (int p = 0; p < n; ++p)
      for (int64_t b = 0; b < B; ++b) {
        const at::Tensor got = pitched ? buffers[r][b].select(1, p) : buffers[r][b].narrow(0, p * S, S);
        EXPECT_TRUE(at::equal(got, sends[p][b].narrow(0, r * S, S)))
            << n << " members, member " << r << " from " << p << ", batch entry " << b << (pitched ? ", pitched" : "");
      }
}

}  // namespace

TEST(PeerCopies, EveryPieceLandsWhereAnAllToAllPutsIt) {
  for (int n : {2, 3, 4, 8})
    for (int64_t B : {int64_t{1}, int64_t{2}})
      for (bool pitched : {false, true}) exchange_and_check(n, B, pitched);
}

TEST(PeerCopies, OwnPieceInPlaceIsNotCopiedAndStrayPiecesAreRefused) {
  const int n = 2, r = 1;
  at::Tensor buffer = at::zeros({n * 4, 6});
  std::vector<at::Tensor> send, recv;
  at::Tensor other = at::zeros({n * 4, 6});
  for (int p = 0; p < n; ++p) {
    recv.push_back(buffer.narrow(0, p * 4, 4));
    send.push_back(p == r ? buffer.narrow(0, p * 4, 4) : other.narrow(0, p * 4, 4));  // own piece in place
  }
  const auto* base = static_cast<const char*>(buffer.const_data_ptr());
  const auto copies = plan_peer_copies(send, recv, r, n, base, buffer.nbytes(), "test");
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].peer, 0);
  EXPECT_EQ(copies[0].offset, 4 * 6 * 4);  // where rank 1's own piece lies: rank 0 keeps it there too
  auto refused = [&](const std::vector<at::Tensor>& s, const std::vector<at::Tensor>& q, const std::string& says) {
    try {
      plan_peer_copies(s, q, r, n, base, buffer.nbytes(), "ulysses group");
      ADD_FAILURE() << "accepted; expected an error saying: " << says;
    } catch (const pardit::Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  // A send piece from the receive buffer (other than the own piece in place): peers write there at
  // any time.
  std::vector<at::Tensor> from_buffer = send;
  from_buffer[0] = buffer.narrow(0, 0, 4);
  refused(from_buffer, recv, "lies in the receive buffer");
  // A receive piece outside the buffer.
  recv[0] = other.narrow(0, 0, 4);
  refused(send, recv, "not in the exchange buffer");
}
