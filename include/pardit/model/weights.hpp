// Filling a FluxTransformer's parameters: from checkpoint tensors (by name) or seeded random init.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "pardit/model/flux.hpp"

namespace pardit::model {

// What a checkpoint has that the architecture does not, and the reverse. Empty when they agree.
struct WeightReport {
  std::vector<std::string> missing;     // expected by the model, absent from the checkpoint
  std::vector<std::string> unexpected;  // in the checkpoint, unknown to the model
  std::vector<std::string> wrong_shape; // "name: checkpoint [a, b] vs model [c, d]"
  bool ok() const { return missing.empty() && unexpected.empty() && wrong_shape.empty(); }
  std::string describe(size_t max_names = 8) const;
};

// Compares names and shapes without copying data (cheap: call it before any allocation).
WeightReport check_weights(FluxTransformer& model,
                           const std::map<std::string, std::vector<int64_t>>& checkpoint_shapes);

// Binds every parameter from `tensors` converted to dtype/device; throws InputError carrying
// check_weights' report when names or shapes disagree.
void bind_weights(FluxTransformer& model, const std::map<std::string, at::Tensor>& tensors, at::ScalarType dtype,
                  at::Device device);

// Seeded random init, identical for a given seed on every rank of the same device type.
// Linear weights ~ N(0, 1/in_features) (keeps activations O(1) through 57 blocks), biases
// ~ N(0, 0.02), norm scales 1 + N(0, 0.02). Generated on CPU per parameter when the device
// is the CPU, on the device otherwise (no 24 GB host copy for flux-dev).
void init_random(FluxTransformer& model, uint64_t seed, at::ScalarType dtype, at::Device device);

}  // namespace pardit::model
