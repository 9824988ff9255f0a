#include "mofe/peft/merged_source.h"

#include "mofe/core/error.h"
#include "mofe/peft/dora.h"
#include "mofe/peft/layout.h"
#include "mofe/peft/policy.h"

namespace mofe::peft {

MergedSource::MergedSource(std::unique_ptr<io::ModelSource> src) : src_(std::move(src)) {
  const auto a = src_->adapters();
  if (a.is_null()) throw UsageError("'" + src_->path() + "' holds no adapters to merge");
  const auto build = inference_options(a, src_->config(), torch::kFloat);
  if (build.perft.any())
    throw UsageError("'" + src_->path() + "' holds " + a.at("mode").get<std::string>() +
                     " adapters: PERFT's adapters sit beside the MoE block and fold into no "
                     "weight (export without --merge-adapters writes them as their own file)");
  for (const auto& s : model::param_layout(src_->config())) base_.insert(s.name);
  for (const auto& s : adapter_layout(src_->config(), build))
    adapted_[s.role.base] = s.role.base.substr(0, s.role.base.size() - 7);  // minus ".weight"
  const auto peft = config::PeftConfig::from_json(a.at("peft"));
  dora_ = a.at("mode").get<std::string>() == "dora";
  scaling_ = peft.scaling();
}

std::vector<std::string> MergedSource::names() const {
  return std::vector<std::string>(base_.begin(), base_.end());
}

torch::Tensor MergedSource::load(const std::string& name) const {
  auto w = src_->load(name);
  auto it = adapted_.find(name);
  if (it == adapted_.end()) return w;
  const auto A = src_->load(it->second + ".lora_A.weight");
  const auto B = src_->load(it->second + ".lora_B.weight");
  if (!dora_) return lora_merged(w, A, B, scaling_);
  return dora_merged(w, A, B, src_->load(it->second + ".lora_magnitude_vector"), scaling_);
}

}  // namespace mofe::peft
