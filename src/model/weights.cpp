#include "pardit/model/weights.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <set>

#include "pardit/common/error.hpp"

namespace pardit::model {

std::string WeightReport::describe(size_t max_names) const {
  std::string out;
  auto list = [&](const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    std::vector<std::string> shown(names.begin(), names.begin() + std::min(names.size(), max_names));
    out += fmt::format("\n  {} {}: {}{}", names.size(), what, fmt::join(shown, ", "),
                       names.size() > max_names ? ", ..." : "");
  };
  list("missing", missing);
  list("unexpected", unexpected);
  list("with the wrong shape", wrong_shape);
  return out;
}

WeightReport check_weights(FluxTransformer& model,
                           const std::map<std::string, std::vector<int64_t>>& checkpoint_shapes) {
  WeightReport r;
  std::set<std::string> seen;
  model.visit([&](const std::string& name, at::Tensor&, const std::vector<int64_t>& shape) {
    seen.insert(name);
    auto it = checkpoint_shapes.find(name);
    if (it == checkpoint_shapes.end())
      r.missing.push_back(name);
    else if (it->second != shape)
      r.wrong_shape.push_back(fmt::format("{}: checkpoint {} vs model {}", name, it->second, shape));
  });
  for (const auto& [name, shape] : checkpoint_shapes)
    if (!seen.count(name)) r.unexpected.push_back(name);
  return r;
}

void bind_weights(FluxTransformer& model, const std::map<std::string, at::Tensor>& tensors, at::ScalarType dtype,
                  at::Device device) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [name, t] : tensors) shapes[name] = t.sizes().vec();
  WeightReport report = check_weights(model, shapes);
  PARDIT_INPUT_CHECK(report.ok(),
                     "weights do not match model '{}':{}\nCheck that --model (or the folder's config.json) "
                     "describes the checkpoint.",
                     model.config().name, report.describe());
  model.visit([&](const std::string& name, at::Tensor& param, const std::vector<int64_t>&) {
    param = tensors.at(name).to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  });
  model.prepare();
}

void init_random(FluxTransformer& model, uint64_t seed, at::ScalarType dtype, at::Device device) {
  uint64_t index = 0;
  model.visit([&](const std::string& name, at::Tensor& param, const std::vector<int64_t>& shape) {
    // One generator per parameter, seeded from (seed, index): reproducible whatever the order
    // in which parameters are later used.
    at::Generator gen;
    const uint64_t param_seed = seed * 1000003ULL + index++;
    at::TensorOptions opts = at::TensorOptions().dtype(at::kFloat).device(device);
    if (device.is_cpu()) {
      gen = at::make_generator<at::CPUGeneratorImpl>(param_seed);
    } else {
      gen = at::globalContext().defaultGenerator(device).clone();
      gen.set_current_seed(param_seed);
    }
    at::Tensor t = at::empty(shape, opts);
    const bool is_norm = name.find("norm_") != std::string::npos && name.ends_with(".weight") && shape.size() == 1;
    if (shape.size() == 2) {
      t.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(shape[1])), gen);
    } else if (is_norm) {
      t.normal_(1.0, 0.02, gen);
    } else {
      t.normal_(0.0, 0.02, gen);
    }
    param = t.to(dtype);
  });
  model.prepare();
}

}  // namespace pardit::model
