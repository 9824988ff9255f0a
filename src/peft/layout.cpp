#include "mofe/peft/layout.h"

namespace mofe::peft {

std::vector<std::pair<std::string, std::vector<int64_t>>> adapter_tensors(
    const model::AdapterSpec& spec, int64_t in, int64_t out) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  if (!spec.any()) return t;
  t.push_back({"lora_A.weight", {spec.rank, in}});
  t.push_back({"lora_B.weight", {out, spec.rank}});
  if (spec.method == "dora") t.push_back({"lora_magnitude_vector", {out}});
  return t;
}

std::vector<model::ParamSpec> adapter_layout(const config::ModelConfig& cfg,
                                             const model::BuildOptions& build) {
  std::vector<model::ParamSpec> out;
  for (const auto& s : model::param_layout(cfg)) {
    if (s.leaf.empty()) continue;
    const auto plan = build.plan_for(s.role, s.leaf);
    const std::string module = s.name.substr(0, s.name.size() - std::string(".weight").size());
    for (auto& [local, shape] : adapter_tensors(plan.adapter, s.shape[1], s.shape[0])) {
      model::ParamSpec a;
      a.name = module + "." + local;
      a.shape = shape;
      a.layer = s.layer;
      a.expert = s.expert;
      a.role = model::ParamRole::adapter_of(s.role, s.name);
      out.push_back(std::move(a));
    }
  }
  for (auto& p : perft_layout(cfg, build.perft)) out.push_back(std::move(p));
  return out;
}

std::vector<model::ParamSpec> perft_layout(const config::ModelConfig& cfg,
                                           const model::PerftSpec& spec) {
  std::vector<model::ParamSpec> out;
  if (!spec.any() || !cfg.is_moe()) return out;
  const bool embedded = spec.variant == model::PerftSpec::Variant::kEmbedded;
  const int64_t D = cfg.hidden_size;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, int64_t layer,
                 model::ParamKind kind, int64_t expert) {
    model::ParamSpec p;
    p.name = name;
    p.shape = std::move(shape);
    p.layer = layer;
    p.expert = expert;
    p.role = model::ParamRole::adapter_of(model::ParamRole{kind, layer, expert}, "");
    out.push_back(std::move(p));
  };
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string block = "layers." + std::to_string(l) + ".block_sparse_moe.perft.";
    for (int64_t j = 0; j < spec.adapters; ++j) {
      const std::string a = block + "adapters." + std::to_string(j) + ".";
      const int64_t expert = embedded ? j : -1;
      add(a + "down.weight", {spec.rank, D}, l, model::ParamKind::kExpert, expert);
      add(a + "up.weight", {D, spec.rank}, l, model::ParamKind::kExpert, expert);
    }
    if (spec.variant == model::PerftSpec::Variant::kRouted)
      add(block + "router.weight", {spec.adapters, D}, l, model::ParamKind::kRouter, -1);
  }
  return out;
}

}  // namespace mofe::peft
