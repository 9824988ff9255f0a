// merge: build a MoFE (Mixtral-shaped) model from dense models, as mergekit-moe does, into a
// mofe model directory (ckpt/model_dir.h):
//   base model      -> embeddings, attention, norms, final norm, head
//   expert e model  -> layers.L.block_sparse_moe.experts.e.{gate,up,down}_proj (its MLP;
//                      + noise_scale * N(0,1), down_proj * residual_scale)
//   gate_init       -> layers.L.block_sparse_moe.gate.weight [E, D]
// Collective over `comm`: prompts and expert files are split over the ranks.
#pragma once

#include <cstdint>
#include <string>

#include "mofe/dist/communicator.h"
#include "mofe/merge/merge_config.h"

namespace mofe::merge {

struct MergeOptions {
  std::string out_dir;
  std::string tokenizer;  // default: tokenizer.model of the base model's directory
  bool allow_identical_experts = false;
  uint64_t seed = 0;  // random gates and expert noise
};

struct MergeReport {
  int64_t experts = 0, layers = 0, tensors = 0;
  double gate_seconds = 0, write_seconds = 0;
  std::string checksum;
};

MergeReport merge_models(const MergeConfig& cfg, const MergeOptions& opt,
                         const dist::Communicator& comm);

}  // namespace mofe::merge
