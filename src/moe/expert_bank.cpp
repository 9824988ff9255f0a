#include "mofe/moe/expert_bank.h"

namespace mofe::moe {

ExpertBankImpl::ExpertBankImpl(const ExpertBankOptions& opts, const model::BuildOptions& build)
    : options(opts) {
  for (int64_t j = 0; j < opts.num_local(); ++j) {
    const int64_t global = opts.first_expert() + j;
    const model::ParamRole role{model::ParamKind::kExpert, opts.layer(), global};
    experts_.push_back(register_module(
        std::to_string(global), model::MLP(opts.hidden(), opts.intermediate(), role, build)));
  }
}

torch::Tensor ExpertBankImpl::forward(const torch::Tensor& x_MD,
                                      const std::vector<int64_t>& rows_per_local_expert) {
  TORCH_CHECK(static_cast<int64_t>(rows_per_local_expert.size()) == num_local(),
              "expert bank: got counts for ", rows_per_local_expert.size(), " experts, holds ",
              num_local());
  return per_expert_slices(x_MD, rows_per_local_expert,
                           [this](size_t j, const torch::Tensor& x) { return experts_[j](x); });
}

torch::Tensor per_expert_slices(
    const torch::Tensor& x_MD, const std::vector<int64_t>& rows_per_local_expert,
    const std::function<torch::Tensor(size_t, const torch::Tensor&)>& fn) {
  if (rows_per_local_expert.size() == 1) return fn(0, x_MD);
  auto slices = x_MD.split_with_sizes(rows_per_local_expert, 0);
  std::vector<torch::Tensor> outs;
  outs.reserve(slices.size());
  for (size_t j = 0; j < slices.size(); ++j) outs.push_back(fn(j, slices[j]));
  return torch::cat(outs, 0);
}

}  // namespace mofe::moe
