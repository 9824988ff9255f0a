#include "mofe/quant/frozen_weight.h"

#include <numeric>

#include "mofe/core/error.h"

namespace mofe::quant {

WeightStorage parse_storage(const std::string& s, const std::string& option) {
  if (s == "fp32" || s == "auto" || s == "float32") return WeightStorage::kParam;
  if (s == "bf16" || s == "bfloat16") return WeightStorage::kBf16;
  if (s == "nf4") return WeightStorage::kNf4;
  throw UsageError(option + ": unknown storage '" + s + "' (expected fp32, bf16 or nf4)");
}

std::string to_string(WeightStorage s) {
  switch (s) {
    case WeightStorage::kParam:
      return "param";
    case WeightStorage::kBf16:
      return "bf16";
    case WeightStorage::kNf4:
      return "nf4";
  }
  return "?";
}

FrozenWeight::FrozenWeight(WeightStorage storage, std::vector<int64_t> shape,
                           torch::ScalarType compute, bool double_quant)
    : storage_(storage), shape_(std::move(shape)), compute_(compute), double_quant_(double_quant) {
  TORCH_CHECK(storage_ != WeightStorage::kParam && shape_.size() == 2,
              "FrozenWeight holds a compressed 2-D weight");
}

void FrozenWeight::assign(const torch::Tensor& w) {
  TORCH_CHECK(w.sizes().vec() == shape_, "FrozenWeight: shape ", w.sizes(), " instead of ",
              c10::IntArrayRef(shape_));
  torch::NoGradGuard no_grad;
  if (storage_ == WeightStorage::kBf16)
    bf16_ = w.detach().to(torch::kCPU, torch::kBFloat16).contiguous();
  else
    nf4_ = nf4_quantize(w, double_quant_);
}

int64_t FrozenWeight::bytes() const {
  if (storage_ == WeightStorage::kBf16) return numel() * 2;
  return nf4_.bytes();
}

int64_t FrozenWeight::rows_per_chunk() const {
  const int64_t in = shape_[1];
  int64_t rows = std::max<int64_t>(1, kChunkElements / in);
  if (storage_ == WeightStorage::kNf4) {
    // rows * in must be a multiple of the block: round rows to a multiple of 64 / gcd(in, 64).
    const int64_t step = kNf4Block / std::gcd(in, kNf4Block);
    rows = std::max(step, rows / step * step);
  }
  return std::min(rows, shape_[0]);
}

torch::Tensor FrozenWeight::rows(int64_t r0, int64_t r1) const {
  TORCH_CHECK(assigned(), "a compressed frozen weight was used before its value was set");
  const int64_t in = shape_[1];
  torch::Tensor out;
  if (storage_ == WeightStorage::kBf16) {
    out = bf16_.slice(0, r0, r1).to(compute_);
  } else {
    out = torch::empty({r1 - r0, in}, torch::TensorOptions().dtype(compute_));
    auto flat = out.view({-1});
    nf4_dequantize_range(nf4_, r0 * in, r1 * in, flat);
  }
  return device_.is_cpu() ? out : out.to(device_);
}

namespace {

// The store, kept alive by the autograd graph for backward.
struct Holder : torch::CustomClassHolder {
  std::shared_ptr<FrozenWeight> w;
  explicit Holder(std::shared_ptr<FrozenWeight> p) : w(std::move(p)) {}
};

// x2 [R, in] @ W^T -> [R, out], one chunk of W's rows at a time.
torch::Tensor chunked_forward(const torch::Tensor& x2, const FrozenWeight& w) {
  const int64_t out_features = w.shape()[0], step = w.rows_per_chunk();
  if (step >= out_features) return torch::matmul(x2, w.rows(0, out_features).t());
  auto y = torch::empty({x2.size(0), out_features}, x2.options());
  for (int64_t r0 = 0; r0 < out_features; r0 += step) {
    const int64_t r1 = std::min(out_features, r0 + step);
    auto part = y.slice(1, r0, r1);
    torch::matmul_out(part, x2, w.rows(r0, r1).t());
  }
  return y;
}

// g2 [R, out] @ W -> [R, in]: the input gradient, summed over W's row chunks.
torch::Tensor chunked_backward(const torch::Tensor& g2, const FrozenWeight& w) {
  const int64_t out_features = w.shape()[0], step = w.rows_per_chunk();
  if (step >= out_features) return torch::matmul(g2, w.rows(0, out_features));
  torch::Tensor gx;
  for (int64_t r0 = 0; r0 < out_features; r0 += step) {
    const int64_t r1 = std::min(out_features, r0 + step);
    auto part = torch::matmul(g2.slice(1, r0, r1), w.rows(r0, r1));
    gx = gx.defined() ? gx.add_(part) : part;
  }
  return gx;
}

struct FrozenLinearFn : torch::autograd::Function<FrozenLinearFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               c10::intrusive_ptr<Holder> holder) {
    const auto& w = *holder->w;
    auto sizes = x.sizes().vec();
    auto y = chunked_forward(x.reshape({-1, sizes.back()}), w);
    sizes.back() = w.shape()[0];
    ctx->saved_data["w"] = c10::IValue::make_capsule(std::move(holder));
    return y.view(sizes);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto holder = c10::static_intrusive_pointer_cast<Holder>(ctx->saved_data["w"].toCapsule());
    const auto& w = *holder->w;
    auto g = grad[0];
    auto sizes = g.sizes().vec();
    auto gx = chunked_backward(g.reshape({-1, sizes.back()}), w);
    sizes.back() = w.shape()[1];
    return {gx.view(sizes), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor frozen_linear(const torch::Tensor& x, const std::shared_ptr<FrozenWeight>& w) {
  TORCH_CHECK(x.scalar_type() == w->compute_dtype(), "frozen_linear: input ", x.scalar_type(),
              ", weight computes in ", w->compute_dtype());
  if (!x.requires_grad()) {
    torch::NoGradGuard no_grad;
    auto sizes = x.sizes().vec();
    auto y = chunked_forward(x.reshape({-1, sizes.back()}), *w);
    sizes.back() = w->shape()[0];
    return y.view(sizes);
  }
  return FrozenLinearFn::apply(x, c10::make_intrusive<Holder>(w));
}

}  // namespace mofe::quant
