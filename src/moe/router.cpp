#include "mofe/moe/router.h"

#include "mofe/model/precision.h"

namespace mofe::moe {

TopKRouterImpl::TopKRouterImpl(const TopKRouterOptions& opts, const model::BuildOptions& build)
    : options(opts) {
  const model::ParamRole role{model::ParamKind::kRouter, opts.layer()};
  gate = register_module("gate", model::Projection(opts.hidden(), opts.num_experts(), role,
                                                   build.plan_for(role, "gate"), build));
}

RoutingResult TopKRouterImpl::forward(const torch::Tensor& x_TD) {
  return route_top_k(gate(x_TD), options.top_k());
}

RoutingResult route_top_k(const torch::Tensor& logits_TE, int64_t top_k) {
  RoutingResult r;
  // The softmax, the top-k and their weights in float32 for 16-bit activations (as HF Mixtral
  // does); combine() casts the weights to the experts' output dtype.
  r.probs_TE = torch::softmax(logits_TE, -1, model::stats_dtype(logits_TE));
  auto [values_TK, ids_TK] = r.probs_TE.topk(top_k, -1);
  r.topk_ids_TK = ids_TK;
  r.topk_weights_TK = values_TK / values_TK.sum(-1, /*keepdim=*/true);
  return r;
}

}  // namespace mofe::moe
