// NcclBackend (built with MOFE_WITH_NCCL): CommBackend for CUDA tensors over NCCL.
// One ncclComm_t per MPI communicator, created on first use: rank 0 of the communicator makes
// the ncclUniqueId and MPI_Bcast's it (the nccl-tests bootstrap). Work is enqueued on
// LibTorch's current CUDA stream, so it is ordered with the surrounding kernels.
#pragma once

#include <map>
#include <memory>

#include "mofe/dist/backend.h"

namespace mofe::dist {

class NcclBackend final : public CommBackend {
 public:
  explicit NcclBackend(const torch::Device& device);
  ~NcclBackend() override;
  std::string name() const override { return "nccl"; }
  void all_reduce_sum(torch::Tensor& t, const Communicator& comm) override;
  torch::Tensor all_to_all_rows(const torch::Tensor& x_ND, const std::vector<int64_t>& send_rows,
                                const std::vector<int64_t>& recv_rows,
                                const Communicator& comm) override;
  void broadcast(torch::Tensor& t, int root, const Communicator& comm) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mofe::dist
