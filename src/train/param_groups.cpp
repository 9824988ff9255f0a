#include "mofe/train/param_groups.h"

namespace mofe::train {

int64_t NamedParams::numel() const {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

void NamedParams::add(const std::string& name, const torch::Tensor& p) {
  names.push_back(name);
  params.push_back(p);
}

int64_t expert_id_of(const std::string& name) {
  static const std::string key = ".block_sparse_moe.experts.";
  auto pos = name.find(key);
  if (pos == std::string::npos) return -1;
  return std::stoll(name.substr(pos + key.size()));
}

ParamGroups apply_freezing(model::TransformerImpl& model, const config::TrainConfig& train) {
  ParamGroups g;
  for (auto& p : model.named_parameters()) {
    const int64_t e = expert_id_of(p.key());
    torch::Tensor t = p.value();
    if (e >= 0 && train.expert_frozen(e)) {
      t.set_requires_grad(false);
      g.frozen.add(p.key(), t);
    } else {
      t.set_requires_grad(true);
      (e >= 0 ? g.experts : g.dense).add(p.key(), t);
    }
  }
  return g;
}

}  // namespace mofe::train
