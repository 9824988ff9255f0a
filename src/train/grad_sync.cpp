#include "mofe/train/grad_sync.h"

namespace mofe::train {

void ensure_grads(std::vector<torch::Tensor>& params) {
  for (auto& p : params)
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
}

GradSync::GradSync(const dist::ProcessGroups& groups, dist::CommBackend& backend,
                   int64_t bucket_bytes, std::optional<torch::ScalarType> wire)
    : groups_(groups), backend_(backend), bucket_bytes_(bucket_bytes), wire_(wire) {}

void GradSync::sync(ParamGroups& g) {
  ensure_grads(g.dense.params);
  ensure_grads(g.experts.params);
  sum_over(g.dense.params, groups_.world);
  sum_over(g.experts.params, groups_.dp);
}

void GradSync::sum_over(std::vector<torch::Tensor>& params, const dist::Communicator& comm) {
  if (comm.size() == 1 || params.empty()) return;
  torch::NoGradGuard no_grad;
  size_t i = 0;
  while (i < params.size()) {
    // Bucket: consecutive parameters up to bucket_bytes_ (at least one).
    size_t j = i;
    int64_t bytes = 0;
    std::vector<torch::Tensor> flat;
    while (j < params.size() &&
           (j == i || bytes + params[j].numel() * params[j].element_size() <= bucket_bytes_)) {
      bytes += params[j].numel() * params[j].element_size();
      flat.push_back(params[j].grad().reshape({-1}));
      ++j;
    }
    torch::Tensor bucket = torch::cat(flat);
    if (wire_ && *wire_ != bucket.scalar_type()) bucket = bucket.to(*wire_);
    backend_.all_reduce_sum(bucket, comm);
    int64_t off = 0;
    for (size_t k = i; k < j; ++k) {
      auto& grad = params[k].mutable_grad();
      grad.copy_(bucket.slice(0, off, off + grad.numel()).view_as(grad));
      off += grad.numel();
    }
    i = j;
  }
}

}  // namespace mofe::train
