// MoeLayer: the Mixtral sparse MoE block with experts spread over an expert-parallel group.
//   route    router(x) -> top-k experts and weights per token
//   plan     DispatchPlan: sort rows by expert, exchange counts (EP group)
//   dispatch exchange rows to the ranks owning their experts
//   experts  local experts on contiguous per-expert slices
//   return   exchange outputs back along the reverse route
//   combine  weighted sum over each token's K experts
// With PERFT adapters (moe/perft.h): embedded ones run beside their experts on the dispatched
// rows (no extra communication); routed, shared and dense ones add to the combined output.
// The single-rank path is the same code with ep_size == 1. The layer itself calls no MPI:
// communication happens in DispatchPlan::build, exchange() and through the backend.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "mofe/config/model_config.h"
#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/moe/expert_bank.h"
#include "mofe/moe/perft.h"
#include "mofe/moe/router.h"

namespace mofe::moe {

struct MoeOutput {
  torch::Tensor y_TD;
  torch::Tensor aux_loss;                       // this rank's share of the load-balancing loss
  std::vector<int64_t> global_rows_per_expert;  // [E] over all ranks (for logging)
  torch::Tensor topk_ids_TK;                    // this rank's tokens' experts (routing reports)
  // PERFT-R: the adapter router's load-balancing loss (this rank's share, same formula),
  // global rows per adapter and this rank's choices; undefined / empty otherwise.
  torch::Tensor adapter_aux_loss;
  std::vector<int64_t> global_rows_per_adapter;
  torch::Tensor adapter_topk_ids_TK;
};

class MoeLayerImpl : public torch::nn::Module {
 public:
  MoeLayerImpl(const config::ModelConfig& cfg, const dist::ProcessGroups& groups,
               dist::CommBackend& backend, int64_t layer = -1,
               const model::BuildOptions& build = {});
  MoeOutput forward(const torch::Tensor& x_TD);

  TopKRouter router{nullptr};   // HF: block_sparse_moe.gate
  ExpertBank experts{nullptr};  // HF: block_sparse_moe.experts.{e}
  Perft perft{nullptr};         // block_sparse_moe.perft, PERFT modes only

 private:
  const dist::ProcessGroups& groups_;
  dist::CommBackend& backend_;
};
TORCH_MODULE(MoeLayer);

}  // namespace mofe::moe
