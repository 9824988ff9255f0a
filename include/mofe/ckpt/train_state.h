// TrainState: what a checkpoint saves and restores, as a view onto live training state, so
// that checkpoints need not know the trainer: named tensors with their roles, their AdamW
// moments, the optimizer's step count, and where the frozen weights come from.
//   tensors      this rank's trainable tensors (and, for a --full-checkpoint, its frozen
//                parameters); restored in place
//   moments      AdamW's exp_avg / exp_avg_sq of a tensor: written when defined, created on
//                restore (null for tensors that are not optimised)
//   provenance   {"source": "init", "seed"} | {"source": "model", "path", "kind", "checksum"}:
//                the frozen weights (experts in mofe mode, the whole base in PEFT modes) are
//                not saved but named, and a resume on another base is refused
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mofe/model/param_role.h"

namespace mofe::ckpt {

struct StateTensor {
  std::string name;
  model::ParamRole role;  // role.expert >= 0: stored in that expert's file
  torch::Tensor value;
  torch::Tensor* exp_avg = nullptr;
  torch::Tensor* exp_avg_sq = nullptr;
  bool trained = true;  // false: a frozen tensor written only by --full-checkpoint
};

struct TrainState {
  std::vector<StateTensor> tensors;
  int64_t* optimizer_steps = nullptr;
  int64_t* samples = nullptr;  // global training samples consumed: where the data continues
  // The loss scaler's state ({"scale", "good_steps"}); null when the run scales no loss.
  nlohmann::json* loss_scaler = nullptr;
  nlohmann::json provenance;
};

}  // namespace mofe::ckpt
