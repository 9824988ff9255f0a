#include "mofe/model/mlp.h"

namespace mofe::model {

MLPImpl::MLPImpl(int64_t hidden, int64_t intermediate) {
  auto opts = [](int64_t in, int64_t out) { return torch::nn::LinearOptions(in, out).bias(false); };
  gate_proj = register_module("gate_proj", torch::nn::Linear(opts(hidden, intermediate)));
  up_proj = register_module("up_proj", torch::nn::Linear(opts(hidden, intermediate)));
  down_proj = register_module("down_proj", torch::nn::Linear(opts(intermediate, hidden)));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

}  // namespace mofe::model
