// MpiBackend: CommBackend over MPI collectives. CPU tensors are sent in place; tensors on
// another device are staged through host memory (correct everywhere, fast only on CPU: use
// NcclBackend for GPUs).
#pragma once

#include "mofe/dist/backend.h"

namespace mofe::dist {

class MpiBackend final : public CommBackend {
 public:
  std::string name() const override { return "mpi"; }
  void all_reduce_sum(torch::Tensor& t, const Communicator& comm) override;
  torch::Tensor all_to_all_rows(const torch::Tensor& x_ND, const std::vector<int64_t>& send_rows,
                                const std::vector<int64_t>& recv_rows,
                                const Communicator& comm) override;
  void broadcast(torch::Tensor& t, int root, const Communicator& comm) override;
};

// MPI datatype of a tensor's elements (float, double, int32, int64); Error otherwise.
MPI_Datatype mpi_datatype(torch::ScalarType type);

}  // namespace mofe::dist
