// Ring attention: K/V blocks travel around the ring; each rank attends its queries to every
// block in turn and merges the partial results by log-sum-exp.
#include <ATen/ATen.h>

#include <cmath>

#include "pardit/common/error.hpp"
#include "pardit/parallel/sequence_parallel.hpp"

namespace pardit::parallel {

std::pair<at::Tensor, at::Tensor> attention_with_lse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  // q/k/v: [B, S, H, D] -> SDPA layout [B, H, S, D]
  at::Tensor qt = q.transpose(1, 2), kt = k.transpose(1, 2), vt = v.transpose(1, 2);
  const int64_t S = q.size(1);
  at::Tensor out, lse;
  if (q.device().is_cpu()) {
    std::tie(out, lse) = at::_scaled_dot_product_flash_attention_for_cpu(qt, kt, vt);
  } else if (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf) {
    auto r = at::_scaled_dot_product_flash_attention(qt, kt, vt);
    out = std::get<0>(r);
    lse = std::get<1>(r);
  } else {
    auto r = at::_scaled_dot_product_efficient_attention(qt, kt, vt, /*attn_bias=*/{}, /*compute_log_sumexp=*/true);
    out = std::get<0>(r);
    lse = std::get<1>(r).narrow(2, 0, S);  // padded to a multiple of 32 rows
  }
  return {out.transpose(1, 2), lse.to(at::kFloat)};
}

at::Tensor ring_attention(comm::Communicator& ring, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int R = ring.size();
  if (R == 1) return model::local_attention(q, k, v);
  const int next = (ring.rank() + 1) % R, prev = (ring.rank() + R - 1) % R;
  at::Tensor kv = at::stack({k, v}).contiguous();  // [2, B, S, H, D], one message per hop
  at::Tensor acc, lse_acc;                          // float32 running output [B,S,H,D] and lse [B,H,S]
  for (int hop = 0; hop < R; ++hop) {
    // Start moving this block on before attending to it (overlap).
    at::Tensor incoming;
    comm::RequestPtr transfer;
    if (hop + 1 < R) {
      incoming = at::empty_like(kv);
      transfer = ring.exchange(kv, next, incoming, prev);
    }
    auto [out, lse] = attention_with_lse(q, kv[0], kv[1]);
    at::Tensor out32 = out.to(at::kFloat);
    if (hop == 0) {
      acc = out32;
      lse_acc = lse;
    } else {
      // Merge two softmax-normalised partials: weights exp(lse_i - lse_new).
      at::Tensor lse_new = at::logaddexp(lse_acc, lse);
      at::Tensor w_old = at::exp(lse_acc - lse_new).transpose(1, 2).unsqueeze(-1);  // [B,S,H,1]
      at::Tensor w_cur = at::exp(lse - lse_new).transpose(1, 2).unsqueeze(-1);
      acc = acc * w_old + out32 * w_cur;
      lse_acc = lse_new;
    }
    if (transfer) {
      transfer->wait();
      kv = incoming;
    }
  }
  return acc.to(q.scalar_type());
}

at::Tensor UspAttention::attend(const model::AttentionInputs& in, int, const model::OverlapWork& overlap) {
  const int parity = receive_parity();
  ++attend_calls_;
  PendingScatter scatter;
  if (staged_) {  // started by send_staged(); copy engines move it, so the work takes every multiprocessor
    PARDIT_CHECK(in.qkv.data_ptr() == staged_->send_.data_ptr(), "attend() with inputs other than the staged ones");
    scatter = std::move(*staged_);
    staged_.reset();
    model::OverlapWork::run(overlap.during_inputs);
  } else {
    scatter = start_ulysses_scatter(ulysses_, in, overlap.during_inputs, parity);
  }
  auto [qh, kh, vh] = scatter.wait();
  // With no work to run beside the output exchange (a double block), it runs beside attention.
  if (ring_.size() == 1 && !overlap.during_output && sends_early_ && ulysses_attention_sends_early(ulysses_, qh.size(0)))
    return ulysses_attention_sending_early(ulysses_, qh, kh, vh);
  at::Tensor out = ring_.size() == 1 ? model::local_attention(qh, kh, vh) : ring_attention(ring_, qh, kh, vh);
  return start_ulysses_gather(ulysses_, out.contiguous(), overlap.during_output).wait();
}

}  // namespace pardit::parallel
