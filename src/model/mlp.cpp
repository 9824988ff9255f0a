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

namespace {

// silu(g) * u, saving only g and u for backward (silu(g) is recomputed there): one F-wide
// activation fewer per row than autograd's silu + mul, with the same arithmetic (silu_backward
// and the products autograd's mul would form), so the gradients are bitwise the same.
struct SwiGluFn : torch::autograd::Function<SwiGluFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& g,
                               const torch::Tensor& u) {
    ctx->save_for_backward({g, u});
    return torch::silu(g) * u;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const auto& g = saved[0];
    const auto& u = saved[1];
    torch::Tensor grad_g, grad_u;
    if (ctx->needs_input_grad(1)) grad_u = grad[0] * torch::silu(g);
    if (ctx->needs_input_grad(0)) grad_g = torch::silu_backward(grad[0] * u, g);
    return {grad_g, grad_u};
  }
};

}  // namespace

torch::Tensor swiglu(const torch::Tensor& g, const torch::Tensor& u) {
  if (!g.requires_grad() && !u.requires_grad()) return torch::silu(g) * u;
  return SwiGluFn::apply(g, u);
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  return down_proj(swiglu(gate_proj(x), up_proj(x)));
}

}  // namespace mofe::model
