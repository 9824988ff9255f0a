#include "mofe/train/optimizer.h"

namespace mofe::train {

std::unique_ptr<torch::optim::AdamW> make_optimizer(const ParamGroups& g,
                                                    const config::TrainConfig& t) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto* group : {&g.dense, &g.experts})
    for (const auto& p : group->params) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  auto opts = torch::optim::AdamWOptions(t.lr)
                  .betas({t.beta1, t.beta2})
                  .eps(t.adam_eps)
                  .weight_decay(t.weight_decay);
  auto no_wd = std::make_unique<torch::optim::AdamWOptions>(opts);
  no_wd->weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
  groups.emplace_back(no_decay, std::move(no_wd));
  return std::make_unique<torch::optim::AdamW>(std::move(groups), opts);
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

int64_t optimizer_state_count(const torch::optim::Optimizer& opt) {
  return static_cast<int64_t>(opt.state().size());
}

}  // namespace mofe::train
