#include "mofe/model/precision.h"

#include "mofe/core/error.h"

namespace mofe::model {

torch::ScalarType compute_dtype(const std::string& precision) {
  if (precision == "bf16-mixed") return torch::kBFloat16;
  if (precision == "fp16-mixed") return torch::kHalf;
  return torch::kFloat;
}

void check_precision_supported(const std::string& precision, const torch::Device& device) {
  if (precision == "fp32") return;
  const auto dtype = compute_dtype(precision);
  try {
    // What a training step needs of the type: a matmul, its backward, a softmax in float32.
    auto opts = torch::TensorOptions().dtype(dtype).device(device);
    auto a = torch::ones({4, 8}, opts).requires_grad_(true);
    auto b = torch::ones({8, 4}, opts);
    auto y = torch::softmax(torch::matmul(a, b), -1, torch::kFloat).sum();
    y.backward();
  } catch (const c10::Error&) {
    throw UsageError("--precision " + precision + ": this LibTorch has no " +
                     std::string(c10::toString(dtype)) + " matmul on " + device.str() +
                     " (use --precision fp32" + (dtype == torch::kHalf ? ", or bf16-mixed" : "") +
                     ")");
  }
}

}  // namespace mofe::model
