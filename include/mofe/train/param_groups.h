// ParamGroups: this rank's parameters split by how they are synchronised, read from their
// roles (model/param_role.h) and the freeze policy (train/freeze_policy.h).
//   dense   - trainable and replicated on every rank (GradSum::kWorld): summed over world
//   experts - trainable and held by an expert's replicas (GradSum::kExpertReplicas: expert
//             weights and adapters on them): summed over the dp group
//   frozen  - requires_grad false: no gradient buffer, no optimizer state, never in a collective
//             (compressed frozen weights are not parameters at all and appear in none)
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mofe/config/peft_config.h"
#include "mofe/config/train_config.h"
#include "mofe/model/transformer.h"

namespace mofe::train {

struct NamedParams {
  std::vector<std::string> names;
  std::vector<torch::Tensor> params;
  std::vector<model::ParamRole> roles;
  int64_t numel() const;
  void add(const std::string& name, const torch::Tensor& p, const model::ParamRole& role);
};

struct ParamGroups {
  NamedParams dense, experts, frozen;
};

// Sets requires_grad on every parameter per the freeze policy and returns the groups.
ParamGroups apply_freezing(model::TransformerImpl& model, const config::TrainConfig& train,
                           const config::PeftConfig& peft = {});

}  // namespace mofe::train
