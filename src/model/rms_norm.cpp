#include "mofe/model/rms_norm.h"

#include "mofe/model/precision.h"

namespace mofe::model {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, int64_t layer) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
  declare("weight", ParamRole{ParamKind::kNorm, layer});
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // Mixed precision: the statistics and the normalisation in float32, back to x's dtype before
  // the weight (Hugging Face: weight * hidden.to(input_dtype)).
  auto xs = x.to(stats_dtype(x));
  auto inv_rms = torch::rsqrt(xs.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return (xs * inv_rms).to(x.scalar_type()) * like(weight, x);
}

}  // namespace mofe::model
