// DispatchPlan: where every routed row goes and comes back, built once per MoE layer per step
// and handed to both directions of the exchange (and, through them, to backward). Nothing of
// the route hides in member state of the layer.
//
// Steps (Megatron's all-to-all dispatcher, one named function each):
//   1. count_rows_per_expert   - rows this rank routes to each of the E experts
//   2. permute_by_expert       - stable sort of the N = T*K routed rows by global expert id;
//                                experts are placed in contiguous blocks, so this also sorts
//                                them by owner rank
//   3. exchange_counts         - one small all-to-all of per-expert counts over the EP group
//                                (the host synchronisation point of the layer: the row
//                                exchange cannot be sized before it)
//   4. order_by_local_expert   - received rows arrive source-rank-major; the permutation that
//                                makes them local-expert-major, so each expert sees one slice
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"

namespace mofe::moe {

struct DispatchPlan {
  torch::Tensor sort_idx_N;              // int64 [N]: routed row (t*K + k) at each sorted position
  torch::Tensor token_idx_N;             // int64 [N]: token of each sorted row (sort_idx / K)
  std::vector<int64_t> rows_per_expert;  // [E] rows this rank routes to each expert
  std::vector<int64_t> send_rows;        // [ep] rows sent to each EP rank
  std::vector<int64_t> recv_rows;        // [ep] rows received from each EP rank
  std::vector<int64_t> rows_per_local_expert;  // [e] rows each local expert computes
  torch::Tensor local_order_M;    // int64 [M]: source-major received row at each expert-major slot
  torch::Tensor local_unorder_M;  // inverse of local_order_M

  static DispatchPlan build(const torch::Tensor& topk_ids_TK,
                            const dist::ExpertPlacement& placement, const dist::Communicator& ep,
                            dist::CommBackend& backend);
};

// The steps, exposed for unit tests.
std::vector<int64_t> count_rows_per_expert(const torch::Tensor& topk_ids_TK, int64_t num_experts);
torch::Tensor permute_by_expert(const torch::Tensor& topk_ids_TK);
// recv_counts[s * e + j]: rows from EP rank s for local expert j. Returns local_order_M.
torch::Tensor order_by_local_expert(const std::vector<int64_t>& recv_counts, int ep_size,
                                    int64_t num_local);

}  // namespace mofe::moe
