// Switch / Mixtral load-balancing loss, computed so that it is exact over the *global* batch
// whatever the rank layout:
//   aux = E * sum_e f_e * P_e,  f_e = (rows routed to e) / T,  P_e = mean_t probs[t, e]
// (HF Mixtral's load_balancing_loss_func per layer: f sums over the K slots, so a perfectly
// balanced router gives aux = K). Counts and T are global (all-reduced by the caller); P_e's
// sum runs over this rank's tokens, so summing the per-rank values (and gradients) over ranks
// gives the global loss. Local math, no communication here.
#pragma once

#include <torch/torch.h>

namespace mofe::moe {

// probs_TE: this rank's router probabilities; global_counts_E: int64 [E] rows per expert over
// all ranks; global_tokens: T over all ranks. Returns this rank's share of the aux loss.
torch::Tensor load_balance_loss(const torch::Tensor& probs_TE, const torch::Tensor& global_counts_E,
                                int64_t global_tokens);

}  // namespace mofe::moe
