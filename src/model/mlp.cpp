#include "mofe/model/mlp.h"

namespace mofe::model {

MLPImpl::MLPImpl(int64_t hidden, int64_t intermediate, const ParamRole& role,
                 const BuildOptions& build) {
  auto make = [&](const char* name, int64_t in, int64_t out) {
    return register_module(name, Projection(in, out, role, build.plan_for(role, name), build));
  };
  gate_proj = make("gate_proj", hidden, intermediate);
  up_proj = make("up_proj", hidden, intermediate);
  down_proj = make("down_proj", intermediate, hidden);
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

}  // namespace mofe::model
