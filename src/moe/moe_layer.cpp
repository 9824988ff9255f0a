#include "mofe/moe/moe_layer.h"

#include "mofe/moe/combine.h"
#include "mofe/moe/dispatch_plan.h"
#include "mofe/moe/load_balance.h"
#include "mofe/moe/token_exchange.h"

namespace mofe::moe {

MoeLayerImpl::MoeLayerImpl(const config::ModelConfig& cfg, const dist::ProcessGroups& groups,
                           dist::CommBackend& backend, int64_t layer,
                           const model::BuildOptions& build)
    : groups_(groups), backend_(backend) {
  // Registered as "gate" so the parameter is block_sparse_moe.gate.weight as in HF Mixtral.
  router = TopKRouter(TopKRouterOptions(cfg.hidden_size, cfg.num_local_experts)
                          .top_k(cfg.num_experts_per_tok)
                          .layer(layer),
                      build);
  register_module("gate", router->gate);
  experts = register_module("experts",
                            ExpertBank(ExpertBankOptions(cfg.hidden_size, cfg.intermediate_size)
                                           .first_expert(groups.placement.first_local())
                                           .num_local(groups.placement.num_local())
                                           .layer(layer),
                                       build));
}

MoeOutput MoeLayerImpl::forward(const torch::Tensor& x_TD) {
  const auto& placement = groups_.placement;
  RoutingResult route = router(x_TD);
  DispatchPlan plan = DispatchPlan::build(route.topk_ids_TK, placement, groups_.ep, backend_);

  auto x_ND = x_TD.index_select(0, plan.token_idx_N);  // sorted by expert
  auto x_MD = exchange(x_ND, plan, Direction::kDispatch, backend_, groups_.ep);
  auto y_MD = experts(x_MD.index_select(0, plan.local_order_M), plan.rows_per_local_expert)
                  .index_select(0, plan.local_unorder_M);  // back to source-major
  auto y_ND = exchange(y_MD, plan, Direction::kCombine, backend_, groups_.ep);

  MoeOutput out;
  out.y_TD = combine(y_ND, plan, route.topk_weights_TK);

  // Load balance over the global batch: one small host all-reduce of [E counts, T].
  std::vector<int64_t> counts = plan.rows_per_expert;
  counts.push_back(x_TD.size(0));
  backend_.all_reduce_host(counts, groups_.world);
  const int64_t global_tokens = counts.back();
  counts.pop_back();
  auto counts_E = torch::tensor(counts, torch::kLong).to(x_TD.device());
  out.aux_loss = load_balance_loss(route.probs_TE, counts_E, global_tokens);
  out.global_rows_per_expert = std::move(counts);
  out.topk_ids_TK = route.topk_ids_TK;
  return out;
}

}  // namespace mofe::moe
