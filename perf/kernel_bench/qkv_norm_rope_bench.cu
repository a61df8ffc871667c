// Times the fused q/k/v kernel alone on Flux's shapes (bf16, 24 heads of 128), with CUDA events:
// one GPU in place, and a Ulysses-2 rank's grouped form with its own group apart. Prints
// microseconds per call, the bytes it moves per second, and a checksum of the output, so that
// builds of the kernel with different settings can be compared for speed and for identical results.
//   nvcc -O3 -std=c++17 -arch=sm_90 -Isrc/kernels -Iinclude perf/kernel_bench/qkv_norm_rope_bench.cu \
//        src/kernels/qkv_norm_rope.cu -o qkv_bench && ./qkv_bench
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "qkv_norm_rope_launch.hpp"

using pardit::kernels::detail::QkvNormRopeArgs;

#define CHECK(x)                                                                          \
  do {                                                                                    \
    cudaError_t e_ = (x);                                                                 \
    if (e_ != cudaSuccess) {                                                              \
      std::printf("%s: %s (line %d)\n", #x, cudaGetErrorString(e_), __LINE__);            \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)

namespace {

constexpr int kHeads = 24, kDim = 128;

// Deterministic bf16 values in [-2, 2).
std::vector<__nv_bfloat16> values(size_t n, uint32_t seed) {
  std::vector<__nv_bfloat16> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& e : v) {
    x = x * 1664525u + 1013904223u;
    e = __float2bfloat16(static_cast<float>(x >> 8) / static_cast<float>(1 << 24) * 4.f - 2.f);
  }
  return v;
}

uint64_t checksum(const void* device, size_t bytes) {
  std::vector<uint8_t> h(bytes);
  CHECK(cudaMemcpy(h.data(), device, bytes, cudaMemcpyDeviceToHost));
  uint64_t s = 1469598103934665603ull;
  for (uint8_t b : h) s = (s ^ b) * 1099511628211ull;
  return s;
}

void run(const char* name, int64_t rows, int groups) {
  const size_t row = 3 * kHeads * kDim, n = static_cast<size_t>(rows) * row;
  std::vector<__nv_bfloat16> input = values(n, 7);
  std::vector<__nv_bfloat16> weight = values(2 * kDim, 11);
  std::vector<float> angles(static_cast<size_t>(rows) * kDim);
  for (int64_t s = 0; s < rows; ++s)
    for (int d = 0; d < kDim; ++d) angles[s * kDim + d] = 0.001f * static_cast<float>((s * 131 + d / 2 * 17) % 6283);
  std::vector<float> cos(angles.size()), sin(angles.size());
  for (size_t i = 0; i < angles.size(); ++i) cos[i] = std::cos(angles[i]), sin[i] = std::sin(angles[i]);
  void *qkv, *qkv_copy, *w, *out = nullptr, *own = nullptr;
  float *dcos, *dsin;
  CHECK(cudaMalloc(&qkv, n * 2));
  CHECK(cudaMalloc(&qkv_copy, n * 2));
  CHECK(cudaMalloc(&w, 2 * kDim * 2));
  CHECK(cudaMalloc(&dcos, cos.size() * 4));
  CHECK(cudaMalloc(&dsin, sin.size() * 4));
  CHECK(cudaMemcpy(qkv_copy, input.data(), n * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(qkv, qkv_copy, n * 2, cudaMemcpyDeviceToDevice));
  CHECK(cudaMemcpy(w, weight.data(), 2 * kDim * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dcos, cos.data(), cos.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dsin, sin.data(), sin.size() * 4, cudaMemcpyHostToDevice));
  QkvNormRopeArgs a{};
  a.qkv = qkv;
  a.q_weight = w;
  a.k_weight = static_cast<const __nv_bfloat16*>(w) + kDim;
  a.cos = dcos;
  a.sin = dsin;
  a.batch = 1, a.seq = rows, a.heads = kHeads, a.head_dim = kDim, a.out_seq = rows, a.row_offset = 0;
  a.groups = groups, a.in_groups = groups, a.own_group = -1, a.q_eps = a.k_eps = 1e-6f;
  size_t moved = 0, out_bytes = n * 2;
  if (groups == 1) {
    a.out = qkv, a.in_place = true;
    moved = 2 * (n * 2 * 2 / 3);  // q and k read and written
  } else {
    // Rank 0 of a Ulysses group: group 0 into own_out, the others into out.
    CHECK(cudaMalloc(&out, n * 2));
    CHECK(cudaMalloc(&own, n * 2 / groups));
    a.out = out, a.own_out = own, a.own_group = 0, a.in_place = false;
    moved = 2 * n * 2;
  }
  auto launch = [&] { CHECK(pardit::kernels::detail::launch_qkv_norm_rope(pardit::kernels::detail::ElementType::bf16, a, 0)); };
  launch();  // the checksum: one call on the original input (in place: the input is the output)
  CHECK(cudaDeviceSynchronize());
  const uint64_t sum = groups == 1 ? checksum(qkv, out_bytes) : checksum(out, out_bytes) ^ checksum(own, n * 2 / groups);
  for (int i = 0; i < 20; ++i) launch();
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  const int iterations = 200;
  CHECK(cudaEventRecord(start));
  for (int i = 0; i < iterations; ++i) launch();
  CHECK(cudaEventRecord(stop));
  CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, start, stop));
  const double us = ms * 1e3 / iterations;
  std::printf("%-34s rows %6lld  %8.2f us/call  %6.2f TB/s  checksum %016llx\n", name, static_cast<long long>(rows), us,
              static_cast<double>(moved) / (us * 1e-6) / 1e12, static_cast<unsigned long long>(sum));
  for (void* p : {qkv, qkv_copy, w, out, own}) cudaFree(p);
  cudaFree(dcos);
  cudaFree(dsin);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace

int main() {
  std::printf("# fused q/k/v kernel, bf16, %d heads of %d\n", kHeads, kDim);
  run("1 GPU, in place, 1024^2", 4608, 1);
  run("1 GPU, in place, 2048^2", 16896, 1);
  run("Ulysses-2 rank, grouped, 1024^2", 2304, 2);
  run("Ulysses-2 rank, grouped, 2048^2", 8448, 2);
  return 0;
}
