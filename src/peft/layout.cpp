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
  return out;
}

}  // namespace mofe::peft
