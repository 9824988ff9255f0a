// FrozenWeight: a frozen projection weight [out, in] kept in a small storage type instead of a
// parameter in the compute dtype: bfloat16 (half the bytes of float32) or NF4 (quant/nf4.h,
// about a seventh of float32 with double quantisation). A frozen weight never changes, so it
// needs no full-precision master copy, no gradient and no optimizer state, and it never
// enters a collective.
//
// frozen_linear(x, w) = x @ W^T with W dequantised on the fly a block of rows at a time (at
// most kChunkElements elements in the compute dtype exist at once); its backward computes the
// input gradient grad_y @ W the same way, and saves nothing but a reference to the store.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "mofe/quant/nf4.h"

namespace mofe::quant {

enum class WeightStorage {
  kParam,  // an ordinary parameter in the compute dtype (trainable or frozen)
  kBf16,   // frozen, bfloat16
  kNf4,    // frozen, NF4 (+ double-quantised scales when asked)
};

// "fp32" (also "auto": the compute dtype) | "bf16" | "nf4"; UsageError otherwise.
WeightStorage parse_storage(const std::string& s, const std::string& option);
std::string to_string(WeightStorage s);

class FrozenWeight {
 public:
  // Rows of W dequantised per block of the on-the-fly matmul.
  static constexpr int64_t kChunkElements = int64_t(1) << 22;  // 16 MB of float32

  FrozenWeight(WeightStorage storage, std::vector<int64_t> shape, torch::ScalarType compute,
               bool double_quant);

  // Stores w (any dtype, the shape given at construction), converting or quantising it.
  void assign(const torch::Tensor& w);
  // Rows [r0, r1) in the compute dtype, on `device`.
  torch::Tensor rows(int64_t r0, int64_t r1) const;
  torch::Tensor dequantize() const { return rows(0, shape_[0]); }

  WeightStorage storage() const { return storage_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t numel() const { return shape_[0] * shape_[1]; }
  int64_t bytes() const;
  torch::ScalarType compute_dtype() const { return compute_; }
  void to(torch::Device device) { device_ = device; }
  void set_compute_dtype(torch::ScalarType dtype) { compute_ = dtype; }
  bool assigned() const { return bf16_.defined() || nf4_.packed.defined(); }
  // Rows per block of the on-the-fly matmul: bounded by kChunkElements; for NF4 also a whole
  // number of 64-element blocks so that each chunk reads its own absmax values.
  int64_t rows_per_chunk() const;
  const Nf4Tensor& nf4() const { return nf4_; }
  const torch::Tensor& bf16() const { return bf16_; }

 private:
  WeightStorage storage_;
  std::vector<int64_t> shape_;
  torch::ScalarType compute_;
  bool double_quant_;
  torch::Device device_ = torch::kCPU;
  torch::Tensor bf16_;  // [out, in] bfloat16
  Nf4Tensor nf4_;
};

// y = x @ W^T, x [..., in] -> [..., out]; differentiable in x only.
torch::Tensor frozen_linear(const torch::Tensor& x, const std::shared_ptr<FrozenWeight>& w);

}  // namespace mofe::quant
