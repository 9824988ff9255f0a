#include "mofe/peft/dora.h"

#include "mofe/model/precision.h"

namespace mofe::peft {

Dora::Dora(torch::nn::Module& owner, int64_t in, int64_t out, const model::AdapterSpec& spec)
    : Lora(owner, in, out, spec) {
  magnitude_ = owner.register_parameter("lora_magnitude_vector", torch::ones({out}));
}

std::vector<std::string> Dora::param_names() const {
  auto names = Lora::param_names();
  names.push_back("lora_magnitude_vector");
  return names;
}

torch::Tensor dora_weight_norm(const torch::Tensor& W, const torch::Tensor& A,
                               const torch::Tensor& B, double scaling) {
  // The update enters detached: the norm is a constant for backward.
  // In float32 when W is 16-bit (a frozen bf16 weight): the norm is a statistic.
  auto Ws = W.to(model::stats_dtype(W));
  auto w = Ws + (torch::matmul(B, A).detach() * scaling).to(Ws.dtype());
  return torch::linalg_norm(w, c10::nullopt, c10::IntArrayRef{1}, false, c10::nullopt).detach();
}

torch::Tensor dora_merged(const torch::Tensor& W, const torch::Tensor& A, const torch::Tensor& B,
                          const torch::Tensor& magnitude, double scaling) {
  torch::NoGradGuard no_grad;
  auto factor = magnitude.to(W.dtype()) / dora_weight_norm(W, A, B, scaling);
  return factor.unsqueeze(1) * lora_merged(W, A, B, scaling);
}

torch::Tensor Dora::forward(const torch::Tensor& x, const torch::Tensor& base_y,
                            const std::function<torch::Tensor()>& weight,
                            const std::function<torch::Tensor(const torch::Tensor&)>& base,
                            bool training) {
  const bool drop = spec_.dropout > 0 && training;
  auto xd = drop ? dropout(x, training) : x;
  auto a = torch::linear(xd, model::like(lora_A_->weight, xd));
  auto lora = torch::linear(a, model::like(lora_B_->weight, a));
  // [out], in the activations' dtype (mixed precision: a 16-bit copy of the float32 factor)
  auto scale = model::like(magnitude_ / dora_weight_norm(weight(), A(), B(), spec_.scaling), x);
  // peft: base_y + (scale - 1) * base(xd) + scale * s * lora. With dropout the base is applied
  // to the dropped input again, as peft does; without, base(xd) = base_y and the sum is
  // scale * base_y + scale * s * lora: two passes over [T, out] instead of five.
  if (drop) return base_y + ((scale - 1) * base(xd) + scale * lora * spec_.scaling);
  return torch::addcmul(scale * base_y, lora, scale * spec_.scaling);
}

void Dora::reset(const torch::Tensor& weight, at::Generator& gen) {
  Lora::reset(weight, gen);  // B = 0, so the norm is that of W alone
  torch::NoGradGuard no_grad;
  magnitude_.copy_(dora_weight_norm(weight.to(magnitude_.dtype()), A(), B(), spec_.scaling));
}

torch::Tensor Dora::merged(const torch::Tensor& weight) const {
  return dora_merged(weight, A(), B(), magnitude_, spec_.scaling);
}

}  // namespace mofe::peft
