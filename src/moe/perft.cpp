#include "mofe/moe/perft.h"

#include "mofe/model/precision.h"
#include "mofe/moe/dispatch_plan.h"
#include "mofe/moe/expert_bank.h"
#include "mofe/moe/router.h"

namespace mofe::moe {

using model::ParamKind;
using model::ParamRole;
using Variant = model::PerftSpec::Variant;

BottleneckAdapterImpl::BottleneckAdapterImpl(int64_t hidden, const model::PerftSpec& spec,
                                             const ParamRole& role)
    : spec_(spec) {
  // Plain children so the names read down.weight / up.weight (as the router's router.weight).
  down = register_module("down",
                         torch::nn::Linear(torch::nn::LinearOptions(hidden, spec.rank).bias(false)))
             ->weight;
  up = register_module("up",
                       torch::nn::Linear(torch::nn::LinearOptions(spec.rank, hidden).bias(false)))
           ->weight;
  declare("down.weight", role);
  declare("up.weight", role);
}

torch::Tensor BottleneckAdapterImpl::forward(const torch::Tensor& x_TD) {
  auto z = torch::linear(x_TD, model::like(down, x_TD));  // [T, D_B]
  if (spec_.parallel) {
    if (spec_.act == "silu")
      z = torch::silu(z);
    else if (spec_.act == "relu")
      z = torch::relu(z);
    else
      z = torch::gelu(z);
  }
  return torch::linear(z, model::like(up, z));
}

void BottleneckAdapterImpl::reset(at::Generator& gen) {
  torch::NoGradGuard no_grad;
  down.copy_(model::linear_default_init(down.sizes(), gen));
  up.zero_();  // step 0 is the pretrained model
}

PerftImpl::PerftImpl(int64_t hidden, const model::PerftSpec& spec, int64_t layer,
                     int64_t first_local, int64_t num_local)
    : spec_(spec) {
  const bool per_expert = spec.variant == Variant::kEmbedded;
  const int64_t first = per_expert ? first_local : 0;
  const int64_t count = per_expert ? num_local : spec.adapters;
  auto adapters = register_module("adapters", torch::nn::ModuleList());
  for (int64_t j = first; j < first + count; ++j) {
    // An embedded adapter shares its expert's id, so its gradient sums over that expert's
    // data-parallel replicas; the others are replicated on every rank.
    const ParamRole role =
        ParamRole::adapter_of(ParamRole{ParamKind::kExpert, layer, per_expert ? j : -1}, "");
    adapters_.push_back(BottleneckAdapter(hidden, spec, role));
    adapters->register_module(std::to_string(j), adapters_.back());
  }
  if (spec.variant == Variant::kRouted) {
    router = register_module(
                 "router",
                 torch::nn::Linear(torch::nn::LinearOptions(hidden, spec.adapters).bias(false)))
                 ->weight;
    declare("router.weight", ParamRole::adapter_of(ParamRole{ParamKind::kRouter, layer}, ""));
  }
}

PerftOutput PerftImpl::forward(const torch::Tensor& x_TD) {
  PerftOutput out;
  if (spec_.variant != Variant::kRouted) {
    out.y_TD = adapters_[0](x_TD);
    for (size_t j = 1; j < adapters_.size(); ++j) out.y_TD = out.y_TD + adapters_[j](x_TD);
    return out;
  }
  out.route = route_top_k(torch::linear(x_TD, model::like(router, x_TD)), spec_.top_k);
  out.rows_per_adapter = count_rows_per_expert(out.route.topk_ids_TK, spec_.adapters);
  // Each adapter on the tokens routed to it, weighted by its renormalised top-k probability
  // (a token picks an adapter at most once, so the weight is the sum over its K slots).
  out.y_TD = torch::zeros_like(x_TD);
  for (int64_t j = 0; j < spec_.adapters; ++j) {
    if (out.rows_per_adapter[j] == 0) continue;
    auto hit_TK = out.route.topk_ids_TK == j;
    auto rows_R = hit_TK.any(-1).nonzero().squeeze(1);
    auto w_R = (out.route.topk_weights_TK * hit_TK).sum(-1).index_select(0, rows_R);
    auto y_RD = adapters_[j](x_TD.index_select(0, rows_R)) * w_R.to(x_TD.dtype()).unsqueeze(1);
    out.y_TD = out.y_TD.index_add(0, rows_R, y_RD);
  }
  return out;
}

torch::Tensor PerftImpl::forward_experts(const torch::Tensor& x_MD,
                                         const std::vector<int64_t>& rows_per_local_expert) {
  TORCH_CHECK(rows_per_local_expert.size() == adapters_.size(), "perft: got counts for ",
              rows_per_local_expert.size(), " experts, holds ", adapters_.size());
  return per_expert_slices(x_MD, rows_per_local_expert,
                           [this](size_t j, const torch::Tensor& x) { return adapters_[j](x); });
}

void PerftImpl::reset(at::Generator& gen) {
  if (!router.defined()) return;
  torch::NoGradGuard no_grad;
  router.copy_(model::linear_default_init(router.sizes(), gen));
}

}  // namespace mofe::moe
