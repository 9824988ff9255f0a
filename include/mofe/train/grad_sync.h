// GradSync: sums gradients over the ranks that share a parameter, in flat buckets.
//   dense trainable parameters -> summed over world
//   trainable experts          -> summed over dp (the replicas of the same experts)
//   frozen parameters          -> never touched
// Gradients are sums because the loss is normalised by the global token count before backward,
// so the result equals the single-process gradient of the global batch.
//
// Why after backward rather than overlapped with it: Open MPI on CPU progresses a non-blocking
// MPI_Iallreduce only inside MPI calls (no progress thread), so launching buckets from autograd
// hooks gains nothing on CPU; on GPUs the NCCL backend is where overlap would pay.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/train/param_groups.h"

namespace mofe::train {

class GradSync {
 public:
  // wire: the dtype buckets travel and are summed in (--grad-reduce-dtype); undefined = the
  // gradients' own. A 16-bit wire halves the bytes; the result is cast back into the float32
  // gradients.
  GradSync(const dist::ProcessGroups& groups, dist::CommBackend& backend,
           int64_t bucket_bytes = 32 << 20, std::optional<torch::ScalarType> wire = {});
  // Parameters whose gradient is missing (an expert that got no tokens) get zeros first, so
  // every rank contributes the same bucket layout.
  void sync(ParamGroups& groups);

 private:
  void sum_over(std::vector<torch::Tensor>& params, const dist::Communicator& comm);
  const dist::ProcessGroups& groups_;
  dist::CommBackend& backend_;
  int64_t bucket_bytes_;
  std::optional<torch::ScalarType> wire_;
};

// Fills undefined gradients of `params` with zeros.
void ensure_grads(std::vector<torch::Tensor>& params);

}  // namespace mofe::train
