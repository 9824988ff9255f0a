// DoRA (Liu et al. 2024) as Hugging Face peft computes it with use_dora=True: LoRA's update
// gives the direction, a trainable magnitude per output row rescales it:
//   n   = || W + scaling * B A ||_row      (L2 norm of each output row; detached, so no
//                                            gradient flows through it: DoRA paper, 4.3)
//   y   = W x + (m / n - 1) * (W x') + (m / n) * (B (A x')) * scaling,   x' = dropout(x)
// (with dropout off, W x' is the base output and y = (m / n) (W + scaling B A) x).
//   m [out] starts at the row norms of W ("lora_magnitude_vector"), so step 0 is the base
// model exactly. Merged: W' = (m / n)[:, None] * (W + scaling * B A).
#pragma once

#include "mofe/peft/lora.h"

namespace mofe::peft {

// || W + scaling * (B @ A) || per output row, as peft's get_weight_norm (B @ A detached).
torch::Tensor dora_weight_norm(const torch::Tensor& W, const torch::Tensor& A,
                               const torch::Tensor& B, double scaling);
// (m / ||W + scaling B A||_row)[:, None] * (W + scaling B A): a DoRA folded into its base.
torch::Tensor dora_merged(const torch::Tensor& W, const torch::Tensor& A, const torch::Tensor& B,
                          const torch::Tensor& magnitude, double scaling);

class Dora : public Lora {
 public:
  Dora(torch::nn::Module& owner, int64_t in, int64_t out, const model::AdapterSpec& spec);
  std::vector<std::string> param_names() const override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& base_y,
                        const std::function<torch::Tensor()>& weight,
                        const std::function<torch::Tensor(const torch::Tensor&)>& base,
                        bool training) override;
  void reset(const torch::Tensor& weight, at::Generator& gen) override;
  torch::Tensor merged(const torch::Tensor& weight) const override;

  torch::Tensor magnitude() const { return magnitude_; }

 private:
  torch::Tensor magnitude_;  // [out]
};

}  // namespace mofe::peft
