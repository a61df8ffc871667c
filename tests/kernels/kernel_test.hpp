// What the kernel tests share: a parameterised fixture that skips without a CUDA device, and the
// tolerance of a kernel's O(1) results after a few roundings to the storage type.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace pardit::kernels {

template <class Param>
class KernelTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  }
};

inline double storage_tolerance(at::ScalarType dtype) {
  return dtype == at::kFloat ? 1e-5 : dtype == at::kHalf ? 4e-3 : 3e-2;
}

}  // namespace pardit::kernels
