// Flux transformer: the exact architecture of diffusers' FluxTransformer2DModel.
//
// The forward pass is exposed in parts so that parallel strategies can run a block range
// (PipeFusion) or a token shard (sequence parallel): embed() -> run_blocks(begin, end) ... ->
// final_layer(). forward() chains them for one rank.
//
// The AdaLN modulations come from the conditioning vector of the step (embed) or, when the
// inputs point at a ModulationTable, from its rows (see [Note: modulation table]).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "pardit/model/flux_blocks.hpp"
#include "pardit/model/flux_config.hpp"
#include "pardit/model/modulation.hpp"

namespace pardit::model {

// One transformer evaluation's inputs, for the tokens this rank holds.
struct FluxInputs {
  at::Tensor hidden_states;          // [B, S_img, in_channels] packed latents
  at::Tensor encoder_hidden_states;  // [B, S_txt, joint_attention_dim]
  at::Tensor pooled_projections;     // [B, pooled_projection_dim]
  at::Tensor timestep;               // [B], sigma in (0, 1] (FluxPipeline passes t / 1000)
  at::Tensor guidance;               // [B] guidance scale, flux-dev only; undefined otherwise
  RotaryTable rope;                  // rows for [txt ; img] tokens held here
  // Optional: this evaluation's AdaLN modulations are rows [modulation_row, modulation_row + B)
  // of this table, made from the same timestep, guidance and pooled_projections (which are
  // then not read). Null: computed from them on the spot.
  const ModulationTable* modulation = nullptr;
  int64_t modulation_row = 0;
};

struct FluxStreams {
  at::Tensor img;  // [B, S_img, dim]
  at::Tensor txt;  // [B, S_txt, dim]
  Temb temb;       // conditioning of the B rows: the vector [B, dim] or rows of a table
};

class FluxTransformer {
 public:
  explicit FluxTransformer(FluxConfig config);

  const FluxConfig& config() const { return config_; }

  // Input embeddings and the conditioning (the vector, unless `in` brings a table).
  FluxStreams embed(const FluxInputs& in) const;
  // Blocks [begin, end) of all num_blocks() (double blocks first) on the joint sequence
  // x = [txt ; img]: [B, text_rows + S_img, dim] -> same shape. Each block's last gated residual
  // is left pending for the next one's norm (PendingResidual); so is the result's.
  PendingResidual run_blocks(int begin, int end, const PendingResidual& x, int64_t text_rows, const Temb& temb,
                             const RotaryTable& rope, AttentionStrategy& attention) const;
  // AdaLN-continuous norm + projection of the image tokens [B, S_img, dim] -> [B, S_img, out_channels],
  // the last block's residual evaluated in the same pass where the fused kernel applies.
  at::Tensor final_layer(const PendingResidual& img, const Temb& temb) const;

  // All blocks on the tokens in `in`: returns the noise prediction [B, S_img, out_channels].
  at::Tensor forward(const FluxInputs& in, AttentionStrategy& attention) const;

  // Conditioning vectors of N evaluations (diffusers' temb): timestep [N] (sigma), guidance [N]
  // (guidance-embedding models; else undefined), pooled [N, pooled_projection_dim]
  // -> [N, dim] in the model dtype. embed() computes the same for one step's rows.
  at::Tensor conditioning_vectors(const at::Tensor& timestep, const at::Tensor& guidance,
                                  const at::Tensor& pooled) const;
  // Every AdaLN layer's modulation for the rows of temb [N, dim]: one GEMM per layer.
  ModulationTable modulation_table(const at::Tensor& temb) const;
  // The bytes such a table of `rows` rows takes (all layers, model dtype).
  int64_t modulation_table_bytes(int64_t rows) const;

  // After the parameters are bound (bind_weights / init_random call it): fused projections.
  void prepare();
  // Every attention layer's q/k/v weights in `groups` head groups (FluxAttention::group_heads), for
  // strategies with that many head groups (Ulysses). visit() refuses afterwards.
  void group_heads(int64_t groups);

  // Every parameter with its checkpoint key and expected shape, in a stable order.
  void visit(const ParamVisitor& v);
  int64_t num_parameters();
  at::ScalarType dtype() const;
  at::Device device() const;

 private:
  // Calls fn(layer) for every AdaLNModulation of `self` in slot order: the double blocks'
  // norm1 and norm1_context, the single blocks' norm, norm_out.
  template <typename Self, typename Fn>
  static void for_each_modulation(Self& self, Fn&& fn);

  FluxConfig config_;
  int64_t head_groups_ = 1;  // group_heads()
  Linear x_embedder, context_embedder;
  MlpEmbedder timestep_embedder, guidance_embedder, text_embedder;  // time_text_embed.*
  std::vector<FluxTransformerBlock> transformer_blocks;
  std::vector<FluxSingleTransformerBlock> single_transformer_blocks;
  AdaLNModulation norm_out;  // AdaLayerNormContinuous: (scale, shift)
  Linear proj_out;
};

}  // namespace pardit::model
