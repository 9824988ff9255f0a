// Adapter: a trainable correction attached to one projection y = W x (LoRA, DoRA, ...; the
// methods live in peft/, one file each). The model only knows this interface: a projection
// that carries an adapter asks it for its output, given the input and the base output.
// An adapter registers its tensors on the projection that owns it, under Hugging Face peft's
// names (lora_A.weight, lora_B.weight, lora_magnitude_vector), so the full names are peft's
// without the "base_model.model." prefix and the adapter name.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mofe::model {

struct AdapterSpec {
  std::string method;  // "" (none) | "lora" | "dora"
  int64_t rank = 0;
  double scaling = 1.0;  // alpha / r, or alpha / sqrt(r) with rsLoRA
  double dropout = 0.0;
  bool any() const { return !method.empty(); }
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  // Names of the tensors it registered on the owning projection.
  virtual std::vector<std::string> param_names() const = 0;
  // The projection's output with the adapter: x [..., in], base_y = W x [..., out].
  // weight(): the dense base weight [out, in] in the compute dtype (dequantised if need be);
  // base(z): W z, for methods that need the base applied to another input (dropout).
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& base_y,
                                const std::function<torch::Tensor()>& weight,
                                const std::function<torch::Tensor(const torch::Tensor&)>& base,
                                bool training) = 0;
  // Initialisation once the base weight is set; `gen` draws the random parts.
  virtual void reset(const torch::Tensor& weight, at::Generator& gen) = 0;
  // The base weight with the adapter folded in (export --merge-adapters).
  virtual torch::Tensor merged(const torch::Tensor& weight) const = 0;
};

// PERFT (Liu et al. 2024, moe/perft.h): bottleneck adapters beside a MoE block, the whole
// pretrained model frozen. A plain value decided by the training policy.
struct PerftSpec {
  enum class Variant {
    kNone,
    kRouted,       // PERFT-R: N_a adapters, their own top-k router, MoE(x) + sum_k w_k A_k(x)
    kEmbedded,     // PERFT-E: one adapter per expert, sum_{i in topk} g_i (E_i(x) + A_i(x))
    kShared,       // PERFT-S: MoE(x) + A(x)
    kDenseShared,  // PERFT-D: MoE(x) + sum_j A_j(x)
  };
  Variant variant = Variant::kNone;
  int64_t adapters = 0;   // N_a (E for kEmbedded, 1 for kShared)
  int64_t top_k = 0;      // kRouted
  int64_t rank = 0;       // D_B
  bool parallel = false;  // up(act(down(x))) instead of up(down(x))
  std::string act = "silu";
  bool any() const { return variant != Variant::kNone; }
};

// torch::nn::Linear's default initialisation of a weight [out, in] (kaiming_uniform_ with
// a = sqrt(5): gain sqrt(2 / 6), bound gain * sqrt(3 / in) = 1 / sqrt(in)), drawn in float64
// from `gen` so the values depend neither on the dtype nor on the device: LoRA's A, PERFT's
// down projections and adapter router.
inline torch::Tensor linear_default_init(at::IntArrayRef shape_out_in, at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(double(shape_out_in[1]));
  return torch::empty(shape_out_in, torch::kFloat64).uniform_(-bound, bound, gen);
}

// A module whose trainable adapter tensors are initialised from a generator of their own
// (init_adapters, model/transformer.h), not from the base weights.
class SeededAdapter {
 public:
  virtual ~SeededAdapter() = default;
  virtual void reset(at::Generator& gen) = 0;
};

// Makes the adapter a projection of in -> out features carries, registering its tensors on
// `owner`.
using AdapterFactory = std::function<std::unique_ptr<Adapter>(
    torch::nn::Module& owner, int64_t in, int64_t out, const AdapterSpec& spec)>;

}  // namespace mofe::model
