#include "mofe/peft/dora.h"

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

torch::Tensor Dora::weight_norm(const torch::Tensor& weight) const {
  // The update enters detached: the norm is a constant for backward.
  auto w = weight + torch::matmul(lora_B_->weight, lora_A_->weight).detach() * spec_.scaling;
  return torch::linalg_norm(w, c10::nullopt, c10::IntArrayRef{1}, false, c10::nullopt).detach();
}

torch::Tensor Dora::forward(const torch::Tensor& x, const torch::Tensor& base_y,
                            const std::function<torch::Tensor()>& weight,
                            const std::function<torch::Tensor(const torch::Tensor&)>& base,
                            bool training) {
  const bool drop = spec_.dropout > 0 && training;
  auto xd = drop ? dropout(x, training) : x;
  auto lora = lora_B_(lora_A_(xd));
  auto scale = magnitude_ / weight_norm(weight());  // [out], broadcast over rows of y
  // With dropout the base is applied to the dropped input again, as peft does.
  auto base_xd = drop ? base(xd) : base_y;
  return base_y + ((scale - 1) * base_xd + scale * lora * spec_.scaling);
}

void Dora::reset(const torch::Tensor& weight, at::Generator& gen) {
  Lora::reset(weight, gen);  // B = 0, so the norm is that of W alone
  torch::NoGradGuard no_grad;
  magnitude_.copy_(weight_norm(weight.to(magnitude_.dtype())));
}

torch::Tensor Dora::merged(const torch::Tensor& weight) const {
  torch::NoGradGuard no_grad;
  auto w = weight + delta_weight().to(weight.dtype());
  auto factor = magnitude_.to(weight.dtype()) / weight_norm(weight);
  return factor.unsqueeze(1) * w;
}

}  // namespace mofe::peft
