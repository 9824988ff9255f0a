#include "mofe/moe/combine.h"

namespace mofe::moe {

torch::Tensor combine(const torch::Tensor& y_ND, const DispatchPlan& plan,
                      const torch::Tensor& topk_weights_TK) {
  const int64_t T = topk_weights_TK.size(0);
  auto w_N = topk_weights_TK.reshape({-1}).index_select(0, plan.sort_idx_N).to(y_ND.dtype());
  auto out_TD = torch::zeros({T, y_ND.size(1)}, y_ND.options());
  return out_TD.index_add(0, plan.token_idx_N, y_ND * w_N.unsqueeze(1));
}

}  // namespace mofe::moe
