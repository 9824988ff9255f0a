#include "mofe/peft/lora.h"

#include "mofe/core/error.h"
#include "mofe/model/precision.h"
#include "mofe/peft/dora.h"

namespace mofe::peft {

Lora::Lora(torch::nn::Module& owner, int64_t in, int64_t out, const model::AdapterSpec& spec)
    : spec_(spec) {
  auto linear = [](int64_t i, int64_t o) {
    return torch::nn::Linear(torch::nn::LinearOptions(i, o).bias(false));
  };
  lora_A_ = owner.register_module("lora_A", linear(in, spec.rank));
  lora_B_ = owner.register_module("lora_B", linear(spec.rank, out));
  torch::NoGradGuard no_grad;
  lora_B_->weight.zero_();  // until reset(): the adapter is a no-op from the start
}

std::vector<std::string> Lora::param_names() const { return {"lora_A.weight", "lora_B.weight"}; }

torch::Tensor Lora::dropout(const torch::Tensor& x, bool training) const {
  return spec_.dropout > 0 ? torch::dropout(x, spec_.dropout, training) : x;
}

torch::Tensor Lora::forward(const torch::Tensor& x, const torch::Tensor& base_y,
                            const std::function<torch::Tensor()>&,
                            const std::function<torch::Tensor(const torch::Tensor&)>&,
                            bool training) {
  auto a = torch::linear(dropout(x, training), model::like(lora_A_->weight, x));
  return base_y + torch::linear(a, model::like(lora_B_->weight, a)) * spec_.scaling;
}

void Lora::reset(const torch::Tensor&, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  lora_A_->weight.copy_(model::linear_default_init(lora_A_->weight.sizes(), gen));
  lora_B_->weight.zero_();
}

torch::Tensor lora_merged(const torch::Tensor& W, const torch::Tensor& A, const torch::Tensor& B,
                          double scaling) {
  torch::NoGradGuard no_grad;
  return W + (torch::matmul(B, A) * scaling).to(W.dtype());
}

torch::Tensor Lora::merged(const torch::Tensor& weight) const {
  return lora_merged(weight, lora_A_->weight, lora_B_->weight, spec_.scaling);
}

std::unique_ptr<model::Adapter> make_adapter(torch::nn::Module& owner, int64_t in, int64_t out,
                                             const model::AdapterSpec& spec) {
  if (spec.method == "lora") return std::make_unique<Lora>(owner, in, out, spec);
  if (spec.method == "dora") return std::make_unique<Dora>(owner, in, out, spec);
  throw Error("unknown adapter method '" + spec.method + "'");
}

}  // namespace mofe::peft
