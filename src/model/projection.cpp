#include "mofe/model/projection.h"

#include <cmath>

#include "mofe/core/error.h"
#include "mofe/model/precision.h"

namespace mofe::model {

ProjectionImpl::ProjectionImpl(int64_t in, int64_t out, const ParamRole& role,
                               const ProjectionPlan& plan, const BuildOptions& build)
    : in_(in), out_(out), role_(role) {
  if (plan.storage == quant::WeightStorage::kParam) {
    // As torch::nn::Linear: the same tensor, the same default initialisation (so the global
    // RNG advances as it did with Linear).
    weight = register_parameter("weight", torch::empty({out, in}));
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  } else {
    frozen = std::make_shared<quant::FrozenWeight>(plan.storage, std::vector<int64_t>{out, in},
                                                   build.dtype, plan.double_quant);
  }
  declare("weight", role, frozen);
  if (plan.adapter.any()) {
    if (!build.make_adapter) throw Error("an adapter was planned but no factory given");
    adapter_ = build.make_adapter(*this, in, out, plan.adapter);
    declare_adapter_roles(adapter_->param_names(), role, "weight");
  }
}

torch::Tensor ProjectionImpl::base_forward(const torch::Tensor& x) {
  return weight.defined() ? torch::linear(x, like(weight, x)) : quant::frozen_linear(x, frozen);
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  auto y = base_forward(x);
  if (!adapter_) return y;
  return adapter_->forward(
      x, y, [this] { return dense_weight(); },
      [this](const torch::Tensor& z) { return base_forward(z); }, is_training());
}

torch::Tensor ProjectionImpl::dense_weight() const {
  return weight.defined() ? weight.detach() : frozen->dequantize();
}

void ProjectionImpl::set_weight(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  if (weight.defined())
    weight.copy_(w);
  else
    frozen->assign(w);
}

void ProjectionImpl::reset_adapter(at::Generator& gen) {
  if (adapter_) adapter_->reset(dense_weight(), gen);
}

void ProjectionImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(device, dtype, non_blocking);
  if (frozen) frozen->to(device), frozen->set_compute_dtype(dtype);
}

void ProjectionImpl::to(torch::Device device, bool non_blocking) {
  torch::nn::Module::to(device, non_blocking);
  if (frozen) frozen->to(device);
}

void ProjectionImpl::to(torch::Dtype dtype, bool non_blocking) {
  torch::nn::Module::to(dtype, non_blocking);
  if (frozen) frozen->set_compute_dtype(dtype);
}

}  // namespace mofe::model
