// AdaLN modulation: the layer, the per-request table of its outputs, and the handle through
// which blocks ask for this evaluation's vectors (from the table or computed on the spot).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "pardit/model/layers.hpp"

namespace pardit::model {

// [Note: modulation table]
// Every AdaLN layer computes `linear(silu(temb))` and temb depends only on (timestep, guidance,
// pooled text embedding), all known before a request's first step. With batch 1 these are
// GEMVs over ~27% of Flux's weights, read again at every step and on every rank of a
// sequence-parallel job. A ModulationTable holds every layer's output for all N rows of a
// request (steps x conditioning branches), computed as one GEMM per layer with M = N
// (FluxTransformer::modulation_table); a step then only takes views of its rows. Results differ
// from the per-step path only by GEMM rounding (M = N instead of M = 1).
// PARDIT_MODULATION_TABLE=0 keeps the per-step computation (the "before" of the measurement).
struct ModulationTable {
  // Indexed by AdaLNModulation::slot: [N, chunks * dim] in the model dtype.
  std::vector<at::Tensor> layers;
  bool defined() const { return !layers.empty(); }
  int64_t rows() const { return layers.empty() ? 0 : layers.front().size(0); }
};

// What the AdaLN layers of one evaluation are conditioned on: the conditioning vector
// `vector` [B, dim] (per-step path), or rows [row, row + batch) of `table`.
struct Temb {
  at::Tensor vector;  // [B, dim]; undefined with a table
  const ModulationTable* table = nullptr;
  int64_t row = 0, batch = 1;
};

// AdaLN modulation: `linear(silu(temb))` chunked into `chunks` vectors of width dim.
// AdaLayerNormZero: 6 (shift/scale/gate for attention, then for MLP); Single: 3; Continuous: 2 (scale, shift).
struct AdaLNModulation {
  Linear linear;
  int64_t chunks = 0;
  int slot = -1;  // this layer's entry in a ModulationTable; FluxTransformer numbers its layers
  AdaLNModulation() = default;
  AdaLNModulation(int64_t dim, int64_t n) : linear(dim, n * dim), chunks(n) {}
  // chunks x [B, dim]: computed from temb.vector, or views of the table's rows.
  std::vector<at::Tensor> forward(const Temb& temb) const;
  void visit(const std::string& prefix, const ParamVisitor& v);
};

// Whether requests use a ModulationTable by default: true unless PARDIT_MODULATION_TABLE=0
// (read once).
bool modulation_table_enabled();

}  // namespace pardit::model
