#include "mofe/moe/dispatch_plan.h"

namespace mofe::moe {

std::vector<int64_t> count_rows_per_expert(const torch::Tensor& topk_ids_TK, int64_t num_experts) {
  auto counts = torch::bincount(topk_ids_TK.reshape({-1}).cpu(), {}, num_experts);
  return std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + num_experts);
}

torch::Tensor permute_by_expert(const torch::Tensor& topk_ids_TK) {
  // Stable, so rows of one expert keep token order (reproducible sums downstream).
  return std::get<1>(
      topk_ids_TK.reshape({-1}).sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
}

torch::Tensor order_by_local_expert(const std::vector<int64_t>& recv_counts, int ep_size,
                                    int64_t num_local) {
  // Offsets of block (s, j) in the source-major received buffer.
  std::vector<int64_t> offset(recv_counts.size());
  int64_t total = 0;
  for (size_t i = 0; i < recv_counts.size(); ++i) {
    offset[i] = total;
    total += recv_counts[i];
  }
  std::vector<int64_t> order;
  order.reserve(total);
  for (int64_t j = 0; j < num_local; ++j)
    for (int s = 0; s < ep_size; ++s) {
      const size_t b = s * num_local + j;
      for (int64_t r = 0; r < recv_counts[b]; ++r) order.push_back(offset[b] + r);
    }
  return torch::tensor(order, torch::kLong);
}

DispatchPlan DispatchPlan::build(const torch::Tensor& topk_ids_TK,
                                 const dist::ExpertPlacement& placement,
                                 const dist::Communicator& ep, dist::CommBackend& backend) {
  const int64_t K = topk_ids_TK.size(1);
  const int64_t E = placement.num_experts, e = placement.num_local();
  const int ep_size = placement.ep_size;
  const auto device = topk_ids_TK.device();

  DispatchPlan plan;
  plan.rows_per_expert = count_rows_per_expert(topk_ids_TK, E);
  plan.sort_idx_N = permute_by_expert(topk_ids_TK);
  plan.token_idx_N = torch::div(plan.sort_idx_N, K, "floor");

  plan.send_rows.assign(ep_size, 0);
  for (int64_t x = 0; x < E; ++x) plan.send_rows[placement.owner(x)] += plan.rows_per_expert[x];

  // Experts of EP rank r are [r*e, (r+1)*e): the [E] count vector is already laid out as
  // "e values per destination rank", which is what the all-to-all needs.
  const std::vector<int64_t> recv_counts =
      backend.all_to_all_counts(plan.rows_per_expert, static_cast<int>(e), ep);
  plan.recv_rows.assign(ep_size, 0);
  plan.rows_per_local_expert.assign(e, 0);
  for (int s = 0; s < ep_size; ++s)
    for (int64_t j = 0; j < e; ++j) {
      plan.recv_rows[s] += recv_counts[s * e + j];
      plan.rows_per_local_expert[j] += recv_counts[s * e + j];
    }

  auto order = order_by_local_expert(recv_counts, ep_size, e);
  plan.local_order_M = order.to(device);
  plan.local_unorder_M =
      torch::empty_like(order).scatter_(0, order, torch::arange(order.numel())).to(device);
  return plan;
}

}  // namespace mofe::moe
