// AdamW (LibTorch's, decoupled weight decay) over the trainable parameters only: frozen experts
// get no optimizer state. Two groups, as Hugging Face's Trainer does: matrices decay, 1-D
// parameters (norm weights) do not.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "mofe/config/train_config.h"
#include "mofe/train/param_groups.h"

namespace mofe::train {

std::unique_ptr<torch::optim::AdamW> make_optimizer(const ParamGroups& g,
                                                    const config::TrainConfig& train);
void set_learning_rate(torch::optim::Optimizer& opt, double lr);
// Parameters with optimizer state (for tests: frozen ones must have none).
int64_t optimizer_state_count(const torch::optim::Optimizer& opt);

}  // namespace mofe::train
