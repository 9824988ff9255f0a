#include "mofe/train/param_groups.h"

#include "mofe/peft/policy.h"

namespace mofe::train {

int64_t NamedParams::numel() const {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

void NamedParams::add(const std::string& name, const torch::Tensor& p,
                      const model::ParamRole& role) {
  names.push_back(name);
  params.push_back(p);
  roles.push_back(role);
}

ParamGroups apply_freezing(model::TransformerImpl& model, const config::TrainConfig& train,
                           const config::PeftConfig& peft) {
  ParamGroups g;
  for (const auto& e : model.params().entries()) {
    if (!e.param.defined()) continue;  // stored compressed: frozen by construction
    torch::Tensor t = e.param;
    const bool train_it = peft::trainable(e.role, train, peft);
    t.set_requires_grad(train_it);
    if (!train_it)
      g.frozen.add(e.name, t, e.role);
    else
      (e.role.grad_sum() == model::GradSum::kExpertReplicas ? g.experts : g.dense)
          .add(e.name, t, e.role);
  }
  return g;
}

}  // namespace mofe::train
