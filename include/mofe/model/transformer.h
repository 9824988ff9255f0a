// Transformer: the whole causal LM (Llama when dense, Mixtral when MoE):
//   embed_tokens -> layers.{0..L-1} -> norm -> lm_head (or the embedding, when tied).
// Parameter names follow Hugging Face without the "model." prefix, e.g.
// layers.3.block_sparse_moe.experts.5.gate_proj.weight, so import/export is a renaming.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "mofe/config/model_config.h"
#include "mofe/config/train_config.h"
#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/model/decoder_layer.h"
#include "mofe/model/param_table.h"
#include "mofe/model/projection.h"

namespace mofe::model {

struct ModelOutput {
  torch::Tensor logits_BSV;  // undefined when forward(ids, false) stopped before the head
  torch::Tensor h_BSD;       // the final norm's output (the head's input)
  torch::Tensor h_RD;        // forward_packed with rows: that output for those rows only
  torch::Tensor aux_loss;    // this rank's share, mean over MoE layers; 0 for a dense model
  std::vector<std::vector<int64_t>> rows_per_expert;  // [layer][E], global
  std::vector<torch::Tensor> topk_ids_BSK;            // [layer] this rank's routing choices
  // PERFT-R's adapter routers: load-balancing loss (this rank's share, mean over layers; 0
  // without), global rows per adapter [layer][N_a], this rank's choices [layer]
  torch::Tensor adapter_aux_loss;
  std::vector<std::vector<int64_t>> rows_per_adapter;
  std::vector<torch::Tensor> adapter_topk_ids_BSK;
};

class TransformerImpl : public torch::nn::Module, public HasRoles {
 public:
  // Holds only this rank's experts (groups.placement). Weights are left at LibTorch's default
  // initialisation (compressed frozen weights: unset): call init_weights() for the mofe
  // initialisation, or io::load_into() for a model's weights.
  TransformerImpl(const config::ModelConfig& cfg, const dist::ProcessGroups& groups,
                  dist::CommBackend& backend, const BuildOptions& build = {});
  // with_logits = false: stop at the final norm (the caller applies the head, fused with the
  // loss: model/lm_loss.h).
  ModelOutput forward(const torch::Tensor& input_ids_BS, bool with_logits = true);
  // forward with an explicit attention layout (packed sequences, model/attention.h); stops at
  // the final norm: apply head() to the rows that are needed. rows_R (int64 flat indices
  // b * S + s): the last layer computes those rows only (DecoderLayer::forward_rows) and the
  // output is h_RD, h_BSD undefined; the last layer's routing choices are then not reported.
  ModelOutput forward_packed(const torch::Tensor& input_ids_BS, const AttentionLayout& layout,
                             const torch::Tensor& rows_R = {});
  // The LM head (or the tied embedding): [..., D] -> [..., V].
  torch::Tensor head(const torch::Tensor& h);

  // The residual stream entering each layer ([L] x [B, S, D]; layer 0 gets the embeddings),
  // for left-padded prompts (key_mask_BS: true = real token): what mergekit's hidden gate
  // modes read (Hugging Face's hidden_states[:-1]).
  std::vector<torch::Tensor> layer_inputs(const torch::Tensor& input_ids_BS,
                                          const torch::Tensor& key_mask_BS);

  // Mixed precision (model/precision.h): activations from the embedding on in `dtype`, frozen
  // compressed weights dequantised to it; parameters keep their own dtype (float32 masters).
  // Unset (the default): activations take the parameters' dtype.
  void set_compute_dtype(torch::ScalarType dtype);

  // What every decoder layer recomputes in backward (model/recompute.h); none by default.
  void set_recompute(config::Recompute level);

  const config::ModelConfig& config() const { return cfg_; }
  DecoderLayer layer(int64_t i) const { return layers_[i]; }
  // Every tensor this rank holds, with its role (model/param_table.h), built once.
  const ParamTable& params() const { return table_; }

  torch::nn::Embedding embed_tokens{nullptr};
  RMSNorm norm{nullptr};
  Projection lm_head{nullptr};  // null when tie_word_embeddings

 private:
  ModelOutput run(const torch::Tensor& input_ids_BS, bool with_logits,
                  const AttentionLayout* layout, const torch::Tensor& rows_R = {});
  torch::Tensor embed(const torch::Tensor& input_ids_BS);  // in the compute dtype
  config::ModelConfig cfg_;
  std::optional<torch::ScalarType> compute_dtype_;
  ParamTable table_;
  torch::nn::ModuleList layer_list_{nullptr};
  std::vector<DecoderLayer> layers_;
};
TORCH_MODULE(Transformer);

// Deterministic, layout-independent initialisation: every parameter draws from its own
// generator seeded by (seed, parameter name), so an expert gets the same weights whichever
// rank holds it. Norm weights 1, everything else N(0, 0.02). Adapters are left alone (see
// init_adapters); compressed frozen weights are set through the table.
void init_weights(TransformerImpl& model, uint64_t seed);
void init_weights(torch::nn::Module& module, uint64_t seed);  // a bare module (tests)

// Initialises every adapter from its projection's current weight, each with a generator
// seeded by (seed, the adapter's weight name): layout-independent like init_weights. Call
// after the base weights are set (DoRA's magnitudes are the weights' row norms). PERFT's
// adapters (model::SeededAdapter) draw from a generator seeded by their module's name.
void init_adapters(TransformerImpl& model, uint64_t seed);

// The value init_weights gives the parameter `name` (float64, CPU): a checkpoint that does not
// store frozen experts re-creates them from this.
torch::Tensor init_parameter(const std::string& name, at::IntArrayRef shape, uint64_t seed);

}  // namespace mofe::model
