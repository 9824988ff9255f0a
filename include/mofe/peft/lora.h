// LoRA (Hu et al. 2021) exactly as Hugging Face peft's lora.Linear computes it:
//   y = W x + (B (A dropout(x))) * scaling,   scaling = alpha / r   (rsLoRA: alpha / sqrt(r))
//   A [r, in]  Kaiming-uniform with a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))   ("lora_A.weight")
//   B [out, r] zeros, so step 0 is the base model exactly                     ("lora_B.weight")
// Merged into the base: W' = W + scaling * (B @ A).
#pragma once

#include "mofe/model/adapter.h"

namespace mofe::peft {

class Lora : public model::Adapter {
 public:
  Lora(torch::nn::Module& owner, int64_t in, int64_t out, const model::AdapterSpec& spec);
  std::vector<std::string> param_names() const override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& base_y,
                        const std::function<torch::Tensor()>& weight,
                        const std::function<torch::Tensor(const torch::Tensor&)>& base,
                        bool training) override;
  void reset(const torch::Tensor& weight, at::Generator& gen) override;
  torch::Tensor merged(const torch::Tensor& weight) const override;

  torch::Tensor A() const { return lora_A_->weight; }
  torch::Tensor B() const { return lora_B_->weight; }

 protected:
  torch::Tensor dropout(const torch::Tensor& x, bool training) const;
  model::AdapterSpec spec_;
  torch::nn::Linear lora_A_{nullptr}, lora_B_{nullptr};
};

// W + scaling * (B @ A): a LoRA folded into its base weight.
torch::Tensor lora_merged(const torch::Tensor& W, const torch::Tensor& A, const torch::Tensor& B,
                          double scaling);

// The adapter `spec.method` names ("lora" | "dora"), registered on `owner`.
std::unique_ptr<model::Adapter> make_adapter(torch::nn::Module& owner, int64_t in, int64_t out,
                                             const model::AdapterSpec& spec);

}  // namespace mofe::peft
