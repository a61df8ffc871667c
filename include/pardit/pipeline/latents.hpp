// Latent layout helpers: Flux packs 2x2 latent patches into tokens.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace pardit::pipeline {

// Image size in pixels -> latent size (VAE factor 8); both must be multiples of 16.
struct LatentShape {
  int64_t channels = 16, height = 0, width = 0;  // latent grid (pixels / 8)
  static LatentShape for_image(int64_t height_px, int64_t width_px, int64_t channels = 16);
  int64_t tokens() const { return (height / 2) * (width / 2); }  // packed image tokens
  int64_t token_rows() const { return height / 2; }
};

// [B, C, h, w] -> [B, (h/2)*(w/2), 4C]   (FluxPipeline._pack_latents)
at::Tensor pack_latents(const at::Tensor& latents);
// [B, (h/2)*(w/2), 4C] -> [B, C, h, w]   (FluxPipeline._unpack_latents)
at::Tensor unpack_latents(const at::Tensor& packed, const LatentShape& shape);

// Seeded standard-normal noise [1, C, h, w] float32, drawn on the CPU with torch's CPU
// generator so it is identical on every device and parallel layout, and equal to
// torch.randn(shape, generator=torch.Generator().manual_seed(seed)).
at::Tensor initial_noise(uint64_t seed, const LatentShape& shape);

}  // namespace pardit::pipeline
