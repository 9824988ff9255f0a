// ParamGroups: this rank's parameters split by how they are synchronised.
//   dense   - trainable non-expert parameters, replicated on every rank: summed over world
//   experts - trainable experts held here: summed over the dp group (their replicas)
//   frozen  - requires_grad false: no gradient buffer, no optimizer state, never in a collective
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mofe/config/train_config.h"
#include "mofe/model/transformer.h"

namespace mofe::train {

struct NamedParams {
  std::vector<std::string> names;
  std::vector<torch::Tensor> params;
  int64_t numel() const;
  void add(const std::string& name, const torch::Tensor& p);
};

struct ParamGroups {
  NamedParams dense, experts, frozen;
};

// Global expert id of an expert parameter name (...block_sparse_moe.experts.<e>.…), -1 otherwise.
int64_t expert_id_of(const std::string& param_name);

// Sets requires_grad per the config (mofe: all experts frozen; full: all but --freeze-experts)
// and returns the groups.
ParamGroups apply_freezing(model::TransformerImpl& model, const config::TrainConfig& train);

}  // namespace mofe::train
