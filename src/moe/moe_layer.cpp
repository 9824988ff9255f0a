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
  if (build.perft.any())
    perft = register_module(
        "perft", Perft(cfg.hidden_size, build.perft, layer, groups.placement.first_local(),
                       groups.placement.num_local()));
}

MoeOutput MoeLayerImpl::forward(const torch::Tensor& x_TD) {
  const auto& placement = groups_.placement;
  RoutingResult route = router(x_TD);
  DispatchPlan plan = DispatchPlan::build(route.topk_ids_TK, placement, groups_.ep, backend_);

  auto x_ND = x_TD.index_select(0, plan.token_idx_N);  // sorted by expert
  auto x_MD = exchange(x_ND, plan, Direction::kDispatch, backend_, groups_.ep);
  auto x_local_MD = x_MD.index_select(0, plan.local_order_M);  // local-expert-major
  auto y_MD = experts(x_local_MD, plan.rows_per_local_expert);
  // PERFT-E: E_i(x) + A_i(x) on expert i's rows, so combine weighs both by g_i.
  if (perft && perft->embedded())
    y_MD = y_MD + perft->forward_experts(x_local_MD, plan.rows_per_local_expert);
  y_MD = y_MD.index_select(0, plan.local_unorder_M);  // back to source-major
  auto y_ND = exchange(y_MD, plan, Direction::kCombine, backend_, groups_.ep);

  MoeOutput out;
  out.y_TD = combine(y_ND, plan, route.topk_weights_TK);
  PerftOutput adapted;
  if (perft && !perft->embedded()) {
    adapted = perft->forward(x_TD);
    out.y_TD = out.y_TD + adapted.y_TD;
  }

  // Load balance over the global batch: one small host all-reduce of [E counts, T] (and the
  // adapter router's N_a counts under PERFT-R, in the same message).
  const int64_t E = static_cast<int64_t>(plan.rows_per_expert.size());
  std::vector<int64_t> counts = plan.rows_per_expert;
  counts.push_back(x_TD.size(0));
  counts.insert(counts.end(), adapted.rows_per_adapter.begin(), adapted.rows_per_adapter.end());
  backend_.all_reduce_host(counts, groups_.world);
  const int64_t global_tokens = counts[E];
  auto device = x_TD.device();
  out.global_rows_per_expert.assign(counts.begin(), counts.begin() + E);
  out.global_rows_per_adapter.assign(counts.begin() + E + 1, counts.end());
  out.aux_loss = load_balance_loss(
      route.probs_TE, torch::tensor(out.global_rows_per_expert, torch::kLong).to(device),
      global_tokens);
  out.topk_ids_TK = route.topk_ids_TK;
  if (perft && perft->routed()) {
    out.adapter_aux_loss = load_balance_loss(
        adapted.route.probs_TE, torch::tensor(out.global_rows_per_adapter, torch::kLong).to(device),
        global_tokens);
    out.adapter_topk_ids_TK = adapted.route.topk_ids_TK;
  }
  return out;
}

}  // namespace mofe::moe
