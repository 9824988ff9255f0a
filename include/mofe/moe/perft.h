// PERFT (Liu et al., "PERFT: Parameter-Efficient Routed Fine-Tuning for Mixture-of-Expert
// Model", arXiv 2411.08212): the whole pretrained MoE frozen, small bottleneck adapters beside
// each MoE block train. One adapter on x [T, D] (the MoE block's input):
//   lora      A(x) = up(down(x))             down [D_B, D], up [D, D_B], no biases
//   parallel  A(x) = up(act(down(x)))        act silu | relu | gelu
// down starts Kaiming-uniform as torch::nn::Linear (LoRA's A), up at zero: step 0 is the
// pretrained model exactly. The variants (model::PerftSpec) and where each runs:
//   routed    MoE(x) + sum_{k in topk_a} w_k A_k(x)   replicated; its own router [N_a, D]
//   embedded  sum_{i in topk} g_i (E_i(x) + A_i(x))   A_i on the rank owning expert i, on the
//                                                     rows the all-to-all delivers there
//   shared    MoE(x) + A(x)                           replicated
//   dense     MoE(x) + sum_j A_j(x)                   replicated
// Registered under the MoE block as perft.adapters.{j}.{down,up}.weight (j the global expert
// id for embedded) and perft.router.weight; roles kAdapter, an embedded adapter with its
// expert's id (its gradient is summed over that expert's replicas only). Local math, no
// communication here: the MoE layer gathers the adapter router's counts with its own.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "mofe/model/adapter.h"
#include "mofe/model/param_table.h"
#include "mofe/moe/routing.h"

namespace mofe::moe {

class BottleneckAdapterImpl : public torch::nn::Module,
                              public model::HasRoles,
                              public model::SeededAdapter {
 public:
  BottleneckAdapterImpl(int64_t hidden, const model::PerftSpec& spec, const model::ParamRole& role);
  torch::Tensor forward(const torch::Tensor& x_TD);  // [T, D] -> [T, D]
  void reset(at::Generator& gen) override;

  torch::Tensor down, up;  // [D_B, D], [D, D_B]

 private:
  model::PerftSpec spec_;
};
TORCH_MODULE(BottleneckAdapter);

struct PerftOutput {
  torch::Tensor y_TD;                     // the adapters' contribution, added to MoE(x)
  RoutingResult route;                    // routed only: the adapter router's choices
  std::vector<int64_t> rows_per_adapter;  // routed only: this rank's rows per adapter [N_a]
};

class PerftImpl : public torch::nn::Module, public model::HasRoles, public model::SeededAdapter {
 public:
  // first/num_local: the experts this rank holds (embedded adapters follow them).
  PerftImpl(int64_t hidden, const model::PerftSpec& spec, int64_t layer, int64_t first_local,
            int64_t num_local);
  // routed, shared, dense: on the block's input rows.
  PerftOutput forward(const torch::Tensor& x_TD);
  // embedded: on the local experts' rows (sorted by local expert, as ExpertBank::forward).
  torch::Tensor forward_experts(const torch::Tensor& x_MD,
                                const std::vector<int64_t>& rows_per_local_expert);
  void reset(at::Generator& gen) override;  // the router (adapters reset themselves)

  const model::PerftSpec& spec() const { return spec_; }
  bool embedded() const { return spec_.variant == model::PerftSpec::Variant::kEmbedded; }
  bool routed() const { return spec_.variant == model::PerftSpec::Variant::kRouted; }

  torch::Tensor router;  // [N_a, D], routed only

 private:
  model::PerftSpec spec_;
  std::vector<BottleneckAdapter> adapters_;
};
TORCH_MODULE(Perft);

}  // namespace mofe::moe
