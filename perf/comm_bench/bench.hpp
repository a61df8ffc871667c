// pardit-comm-bench helpers: size parsing, the nccl-tests byte/bandwidth conventions, and the
// deterministic fill / expected values used by the correctness check. Header-only, no MPI.
//
// Sizes (nccl-tests convention): `bytes` is the total size of the per-rank buffer the operation
// is named after, the number nccl-tests prints in its "size" column:
//   all_reduce  the buffer reduced in place                           (count = bytes / elem)
//   all_gather  the OUTPUT buffer: n blocks of bytes/n, one per rank  (input = bytes / n)
//   all_to_all  the input (= output) buffer: n blocks of bytes/n, block i goes to rank i
//   sendrecv    the message each rank sends (and receives)
// all_gather and all_to_all round `bytes` down to a multiple of n * elem (as nccl-tests rounds
// its count to a multiple of nranks); the table prints the size actually used.
//
// Bandwidths (nccl-tests, doc/PERFORMANCE.md), with GB = 1e9 bytes and t the time of one
// operation (the slowest rank's mean over the timed iterations):
//   algbw = bytes / t
//   busbw = algbw * factor, factor:
//     all_reduce  2(n-1)/n   (reduce-scatter + all-gather: each rank moves 2(n-1)/n of the buffer)
//     all_gather  (n-1)/n    (each rank receives the n-1 blocks it does not own)
//     all_to_all  (n-1)/n    (each rank sends n-1 of its n blocks away)
//     sendrecv    1          (each rank sends the whole message to (rank+1)%n, receives from (rank-1+n)%n)
// busbw is comparable to the hardware's link bandwidth independently of n.
#pragma once

#include <cctype>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace pardit::perf {

enum class Op { all_to_all, all_gather, all_reduce, sendrecv };

inline const char* op_name(Op op) {
  switch (op) {
    case Op::all_to_all: return "all_to_all";
    case Op::all_gather: return "all_gather";
    case Op::all_reduce: return "all_reduce";
    case Op::sendrecv: return "sendrecv";
  }
  return "?";
}

inline Op op_from_name(const std::string& name) {
  for (Op op : {Op::all_to_all, Op::all_gather, Op::all_reduce, Op::sendrecv})
    if (name == op_name(op)) return op;
  throw std::invalid_argument("unknown op '" + name + "' (all_to_all, all_gather, all_reduce, sendrecv)");
}

// "1024", "1K", "64k", "1M", "1G", "1KiB", "2MB": binary multiples (K = 1024), as nccl-tests.
inline int64_t parse_bytes(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos == 0) throw std::invalid_argument("not a size: '" + text + "'");
  int64_t value = std::stoll(text.substr(0, pos));
  std::string unit = text.substr(pos);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit == "IB" || unit == "B") unit.clear();
  if (unit.size() > 1 && (unit.substr(1) == "B" || unit.substr(1) == "IB")) unit = unit.substr(0, 1);
  if (unit.empty()) return value;
  if (unit == "K") return value << 10;
  if (unit == "M") return value << 20;
  if (unit == "G") return value << 30;
  throw std::invalid_argument("unknown size unit in '" + text + "' (K, M, G)");
}

// nccl-tests' geometric sweep: min, min*factor, ... while <= max.
inline std::vector<int64_t> size_sweep(int64_t min_bytes, int64_t max_bytes, int64_t factor) {
  std::vector<int64_t> sizes;
  for (int64_t b = min_bytes; b <= max_bytes; b *= factor) {
    sizes.push_back(b);
    if (factor <= 1) break;
  }
  return sizes;
}

// Elements of the named buffer for `bytes` (see the convention above); 0 = too small to run.
inline int64_t element_count(Op op, int64_t bytes, int64_t elem_size, int n) {
  int64_t count = bytes / elem_size;
  if (op == Op::all_gather || op == Op::all_to_all) count = count / n * n;
  return count;
}

inline double bus_factor(Op op, int n) {
  switch (op) {
    case Op::all_reduce: return 2.0 * (n - 1) / n;
    case Op::all_gather:
    case Op::all_to_all: return static_cast<double>(n - 1) / n;
    case Op::sendrecv: return 1.0;
  }
  return 1.0;
}

// Bandwidth in GB/s (1e9 bytes per second).
inline double algbw_gbs(int64_t bytes, double seconds) { return seconds > 0 ? bytes / seconds / 1e9 : 0.0; }

// Fill values of the correctness check: small integers (< 16), exact in bf16 and fp32, and sums of
// n of them stay exact in bf16 (<= 256) up to n = 85.
//   all_reduce  rank r, element i: (r + i) % 4           expected sum: sum_r (r + i) % 4
//   all_gather  rank r, element i: (3r + i) % 7          output block j: (3j + i) % 7
//   all_to_all  rank r, block d, element i: (5r + 3d + i) % 11   rank r's output block j: (5j + 3r + i) % 11
//   sendrecv    rank r, element i: (3r + i) % 13         received from p = (r-1+n)%n: (3p + i) % 13
// Sum over ranks for all_reduce, for i % 4 == k: table[k].
inline std::vector<int64_t> all_reduce_expected_table(int n) {
  std::vector<int64_t> table(4, 0);
  for (int k = 0; k < 4; ++k)
    for (int r = 0; r < n; ++r) table[static_cast<size_t>(k)] += (r + k) % 4;
  return table;
}

}  // namespace pardit::perf
