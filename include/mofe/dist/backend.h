// CommBackend: the one interface through which tensors cross ranks. MpiBackend is the default
// (CPU tensors directly; device tensors staged through host memory); NcclBackend
// (MOFE_WITH_NCCL) moves device tensors with NCCL. Each call is collective over `comm`.
//
// Every backend counts time and bytes per kind of collective, so that `mofe bench` can report
// the share of a step spent in all-to-all and in all-reduce.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mofe/dist/communicator.h"

namespace mofe::config {
struct RuntimeConfig;
}

namespace mofe::dist {

struct CommStats {
  double all_to_all_s = 0, all_reduce_s = 0, other_s = 0;
  int64_t all_to_all_bytes = 0, all_reduce_bytes = 0;
  int64_t all_to_all_calls = 0, all_reduce_calls = 0;
  void reset() { *this = CommStats{}; }
};

class CommBackend {
 public:
  virtual ~CommBackend() = default;
  virtual std::string name() const = 0;

  // In-place elementwise sum over all ranks of `comm`. `t` must be contiguous.
  virtual void all_reduce_sum(torch::Tensor& t, const Communicator& comm) = 0;

  // Row all-to-all-v: x_ND's first send_rows[0] rows go to rank 0, the next send_rows[1] to
  // rank 1, ...; returns the rows received, recv_rows[r] from rank r in rank order.
  virtual torch::Tensor all_to_all_rows(const torch::Tensor& x_ND,
                                        const std::vector<int64_t>& send_rows,
                                        const std::vector<int64_t>& recv_rows,
                                        const Communicator& comm) = 0;

  // Broadcast `t` in place from `root`.
  virtual void broadcast(torch::Tensor& t, int root, const Communicator& comm) = 0;

  // Small host-side exchange: `send` holds `per_peer` int64 for every rank in order; returns
  // what each rank sent to this one, in the same layout. Always MPI: the host needs the counts
  // to size the row exchange (this is the step's host synchronisation point).
  std::vector<int64_t> all_to_all_counts(const std::vector<int64_t>& send, int per_peer,
                                         const Communicator& comm);
  // Host-side sum of a few int64/double values (token counts, metrics).
  void all_reduce_host(std::vector<int64_t>& values, const Communicator& comm);
  void all_reduce_host(std::vector<double>& values, const Communicator& comm);

  CommStats& stats() { return stats_; }

 protected:
  CommStats stats_;
};

// The backend named by runtime.comm ("mpi" or "nccl"), for tensors on `device`.
std::unique_ptr<CommBackend> make_backend(const std::string& name, const torch::Device& device);

}  // namespace mofe::dist
