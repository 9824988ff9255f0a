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
  RoutingResult r;
  // The softmax, the top-k and their weights in float32 for 16-bit activations (as HF Mixtral
  // does); combine() casts the weights to the experts' output dtype.
  r.probs_TE = torch::softmax(gate(x_TD), -1, model::stats_dtype(x_TD));
  auto [values_TK, ids_TK] = r.probs_TE.topk(options.top_k(), -1);
  r.topk_ids_TK = ids_TK;
  r.topk_weights_TK = values_TK / values_TK.sum(-1, /*keepdim=*/true);
  return r;
}

}  // namespace mofe::moe
