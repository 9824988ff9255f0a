// RMSNorm (Llama): y = x / sqrt(mean(x^2) + eps) * weight, statistics in float32 for
// 16-bit inputs (model/precision.h), else in the input dtype.
#pragma once

#include <torch/torch.h>

#include "mofe/model/param_table.h"

namespace mofe::model {

class RMSNormImpl : public torch::nn::Module, public HasRoles {
 public:
  RMSNormImpl(int64_t dim, double eps, int64_t layer = -1);
  torch::Tensor forward(const torch::Tensor& x);  // [..., D] -> [..., D]
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace mofe::model
