#include "pardit/pipeline/latents.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "pardit/common/error.hpp"

namespace pardit::pipeline {

LatentShape LatentShape::for_image(int64_t height_px, int64_t width_px, int64_t channels) {
  PARDIT_INPUT_CHECK(height_px > 0 && width_px > 0 && height_px % 16 == 0 && width_px % 16 == 0,
                     "image size {}x{} (height x width) must be positive multiples of 16; try {}x{}", height_px,
                     width_px, std::max<int64_t>(16, height_px / 16 * 16), std::max<int64_t>(16, width_px / 16 * 16));
  return {channels, height_px / 8, width_px / 8};
}

at::Tensor pack_latents(const at::Tensor& latents) {
  const int64_t b = latents.size(0), c = latents.size(1), h = latents.size(2), w = latents.size(3);
  return latents.view({b, c, h / 2, 2, w / 2, 2}).permute({0, 2, 4, 1, 3, 5}).reshape({b, (h / 2) * (w / 2), c * 4});
}

at::Tensor unpack_latents(const at::Tensor& packed, const LatentShape& s) {
  const int64_t b = packed.size(0);
  return packed.view({b, s.height / 2, s.width / 2, s.channels, 2, 2})
      .permute({0, 3, 1, 4, 2, 5})
      .reshape({b, s.channels, s.height, s.width});
}

at::Tensor initial_noise(uint64_t seed, const LatentShape& s) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({1, s.channels, s.height, s.width}, gen, at::TensorOptions().dtype(at::kFloat));
}

}  // namespace pardit::pipeline
