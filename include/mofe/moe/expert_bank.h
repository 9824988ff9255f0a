// ExpertBank: the experts of one MoE layer that live on this rank (e of the E experts), each a
// SwiGLU MLP registered under its *global* id ("experts.5.gate_proj.weight"), so parameter
// names do not depend on the expert-parallel layout. Local math, no communication here.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "mofe/model/mlp.h"

namespace mofe::moe {

// fn(j, rows of local expert j) on each contiguous slice of x_MD (rows_per_local_expert[j]
// rows each, in order), concatenated: how every per-expert module runs on dispatched rows.
torch::Tensor per_expert_slices(
    const torch::Tensor& x_MD, const std::vector<int64_t>& rows_per_local_expert,
    const std::function<torch::Tensor(size_t, const torch::Tensor&)>& fn);

struct ExpertBankOptions {
  ExpertBankOptions(int64_t hidden, int64_t intermediate)
      : hidden_(hidden), intermediate_(intermediate) {}
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(int64_t, intermediate);
  /// global id of the first expert held here
  TORCH_ARG(int64_t, first_expert) = 0;
  /// experts held here (contiguous global ids)
  TORCH_ARG(int64_t, num_local) = 1;
  /// decoder layer (for the weights' roles)
  TORCH_ARG(int64_t, layer) = -1;
};

class ExpertBankImpl : public torch::nn::Module {
 public:
  explicit ExpertBankImpl(const ExpertBankOptions& options, const model::BuildOptions& build = {});

  // x_MD: rows sorted by local expert, rows_per_local_expert[j] rows for expert j (in order).
  // Each expert runs once, on its contiguous slice. Returns y_MD in the same order.
  torch::Tensor forward(const torch::Tensor& x_MD,
                        const std::vector<int64_t>& rows_per_local_expert);

  model::MLP expert(int64_t local_index) const { return experts_[local_index]; }
  int64_t first_expert() const { return options.first_expert(); }
  int64_t num_local() const { return options.num_local(); }
  ExpertBankOptions options;

 private:
  std::vector<model::MLP> experts_;
};
TORCH_MODULE(ExpertBank);

}  // namespace mofe::moe
