#include "mofe/dist/backend.h"
#include "mofe/dist/collective_trace.h"

#include "mofe/core/error.h"
#include "mofe/dist/mpi_backend.h"
#ifdef MOFE_WITH_NCCL
#include "mofe/dist/nccl_backend.h"
#endif

namespace mofe::dist {

std::vector<int64_t> CommBackend::all_to_all_counts(const std::vector<int64_t>& send, int per_peer,
                                                    const Communicator& comm) {
  std::vector<int64_t> recv(send.size());
  if (send.size() != static_cast<size_t>(per_peer) * comm.size())
    throw Error("all_to_all_counts: " + std::to_string(send.size()) + " values for " +
                std::to_string(comm.size()) + " ranks x " + std::to_string(per_peer));
  CollectiveScope scope("all_to_all_counts", comm);
  MOFE_CHECK_MPI(MPI_Alltoall(send.data(), per_peer, MPI_INT64_T, recv.data(), per_peer,
                              MPI_INT64_T, comm.raw()));
  return recv;
}

void CommBackend::all_reduce_host(std::vector<int64_t>& values, const Communicator& comm) {
  comm.all_reduce(values, Reduce::kSum);
}

void CommBackend::all_reduce_host(std::vector<double>& values, const Communicator& comm) {
  comm.all_reduce(values, Reduce::kSum);
}

std::unique_ptr<CommBackend> make_backend(const std::string& name, const torch::Device& device) {
  if (name == "mpi") return std::make_unique<MpiBackend>();
  if (name == "nccl") {
#ifdef MOFE_WITH_NCCL
    if (!device.is_cuda()) throw UsageError("--comm nccl needs --device cuda");
    return std::make_unique<NcclBackend>(device);
#else
    throw UsageError(
        "--comm nccl: this mofe was built without NCCL (configure with -DMOFE_WITH_NCCL=ON)");
#endif
  }
  throw UsageError("--comm: unknown backend '" + name + "'");
}

}  // namespace mofe::dist
