#include "mofe/train/grad_clip.h"

#include <cmath>

namespace mofe::train {

namespace {
// The sum of the gradients' squared norms, read back once: on a GPU a read per tensor would
// wait for the device hundreds of times a step. The same float64 arithmetic in the same order
// as summing n * n on the host (each norm converted to double exactly), so the same bits.
double sum_squares(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  torch::Tensor s;
  for (const auto& p : params)
    if (p.grad().defined()) {
      // norm() reduces without a temporary copy (and accumulates in double on the CPU).
      const auto n = p.grad().norm().to(torch::kDouble);
      s = s.defined() ? s + n * n : n * n;
    }
  return s.defined() ? s.item<double>() : 0.0;
}
}  // namespace

double global_grad_norm(const ParamGroups& g, const dist::ProcessGroups& groups,
                        dist::CommBackend& backend) {
  std::vector<double> expert_sq{sum_squares(g.experts.params)};
  backend.all_reduce_host(expert_sq, groups.ep);
  return std::sqrt(sum_squares(g.dense.params) + expert_sq[0]);
}

Clip clip_grad_norm(const ParamGroups& g, double max_norm, const dist::ProcessGroups& groups,
                    dist::CommBackend& backend, double loss_scale) {
  const double norm = global_grad_norm(g, groups, backend) / loss_scale;
  double scale = 1.0 / loss_scale;
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) scale *= max_norm / (norm + 1e-6);
  return {norm, scale};
}

}  // namespace mofe::train
