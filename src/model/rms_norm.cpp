#include "mofe/model/rms_norm.h"

namespace mofe::model {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, int64_t layer) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
  declare("weight", ParamRole{ParamKind::kNorm, layer});
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto inv_rms = torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return x * inv_rms * weight;
}

}  // namespace mofe::model
