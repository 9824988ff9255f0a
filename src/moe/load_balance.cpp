#include "mofe/moe/load_balance.h"

namespace mofe::moe {

torch::Tensor load_balance_loss(const torch::Tensor& probs_TE, const torch::Tensor& global_counts_E,
                                int64_t global_tokens) {
  const int64_t E = probs_TE.size(1);
  const double T = static_cast<double>(global_tokens);
  auto f_E = global_counts_E.to(probs_TE.dtype()) / T;  // fraction of rows per expert
  auto p_sum_E = probs_TE.sum(0);                       // this rank's share of T * P_e
  return (f_E * p_sum_E).sum() * (double(E) / T);
}

}  // namespace mofe::moe
