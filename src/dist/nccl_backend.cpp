#include "mofe/dist/nccl_backend.h"
#include "mofe/dist/collective_trace.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <nccl.h>

#include <chrono>

#include "mofe/core/error.h"

#define MOFE_CHECK_NCCL(call)                                                             \
  do {                                                                                    \
    ncclResult_t mofe_nccl_rc_ = (call);                                                  \
    if (mofe_nccl_rc_ != ncclSuccess)                                                     \
      throw ::mofe::CommError(std::string("NCCL call failed: ") + #call + ": " +          \
                              ncclGetErrorString(mofe_nccl_rc_) + " (" + __FILE__ + ":" + \
                              std::to_string(__LINE__) + ")");                            \
  } while (0)

namespace mofe::dist {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

ncclDataType_t nccl_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return ncclFloat32;
    case torch::kDouble:
      return ncclFloat64;
    case torch::kHalf:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kInt:
      return ncclInt32;
    case torch::kLong:
      return ncclInt64;
    default:
      throw CommError(std::string("NCCL backend: unsupported dtype ") + c10::toString(t));
  }
}
}  // namespace

struct NcclBackend::Impl {
  torch::Device device;
  std::map<MPI_Comm, ncclComm_t> comms;

  // raw: comm's MPI handle, passed in by NcclBackend (a friend of Communicator).
  ncclComm_t get(const Communicator& comm, MPI_Comm raw) {
    auto it = comms.find(raw);
    if (it != comms.end()) return it->second;
    ncclUniqueId id;
    if (comm.rank() == 0) MOFE_CHECK_NCCL(ncclGetUniqueId(&id));
    MOFE_CHECK_MPI(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, raw));
    ncclComm_t nc;
    c10::cuda::CUDAGuard guard(device);
    MOFE_CHECK_NCCL(ncclCommInitRank(&nc, comm.size(), id, comm.rank()));
    comms.emplace(raw, nc);
    return nc;
  }
};

NcclBackend::NcclBackend(const torch::Device& device) : impl_(new Impl{device, {}}) {}

NcclBackend::~NcclBackend() {
  for (auto& kv : impl_->comms) ncclCommDestroy(kv.second);
}

void NcclBackend::all_reduce_sum(torch::Tensor& t, const Communicator& comm) {
  auto t0 = Clock::now();
  TORCH_CHECK(t.is_cuda() && t.is_contiguous(),
              "NCCL all_reduce_sum needs a contiguous CUDA tensor");
  if (comm.size() > 1 && t.numel() > 0) {
    auto stream = at::cuda::getCurrentCUDAStream(t.device().index());
    CollectiveScope scope("nccl all_reduce_sum (enqueue)", comm);
    MOFE_CHECK_NCCL(ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t.scalar_type()),
                                  ncclSum, impl_->get(comm, comm.raw()), stream.stream()));
  }
  stats_.all_reduce_s += since(t0);
  stats_.all_reduce_bytes += t.numel() * t.element_size();
  stats_.all_reduce_calls += 1;
}

torch::Tensor NcclBackend::all_to_all_rows(const torch::Tensor& x_ND,
                                           const std::vector<int64_t>& send_rows,
                                           const std::vector<int64_t>& recv_rows,
                                           const Communicator& comm) {
  auto t0 = Clock::now();
  TORCH_CHECK(x_ND.is_cuda(), "NCCL all_to_all_rows needs a CUDA tensor");
  torch::Tensor send = x_ND.contiguous();
  const int64_t D = send.size(1);
  int64_t total_recv = 0;
  for (int64_t r : recv_rows) total_recv += r;
  torch::Tensor recv = torch::empty({total_recv, D}, send.options());
  auto stream = at::cuda::getCurrentCUDAStream(send.device().index());
  ncclComm_t nc = impl_->get(comm, comm.raw());
  const auto type = nccl_type(send.scalar_type());
  const int64_t esz = send.element_size();
  auto* sp = static_cast<char*>(send.data_ptr());
  auto* rp = static_cast<char*>(recv.data_ptr());
  CollectiveScope scope("nccl all_to_all_rows (enqueue)", comm);
  MOFE_CHECK_NCCL(ncclGroupStart());
  int64_t so = 0, ro = 0;
  for (int r = 0; r < comm.size(); ++r) {
    if (send_rows[r] > 0)
      MOFE_CHECK_NCCL(ncclSend(sp + so * D * esz, send_rows[r] * D, type, r, nc, stream.stream()));
    if (recv_rows[r] > 0)
      MOFE_CHECK_NCCL(ncclRecv(rp + ro * D * esz, recv_rows[r] * D, type, r, nc, stream.stream()));
    so += send_rows[r];
    ro += recv_rows[r];
  }
  MOFE_CHECK_NCCL(ncclGroupEnd());
  stats_.all_to_all_s += since(t0);
  stats_.all_to_all_bytes += (so + ro) * D * esz / 2;
  stats_.all_to_all_calls += 1;
  return recv;
}

void NcclBackend::broadcast(torch::Tensor& t, int root, const Communicator& comm) {
  TORCH_CHECK(t.is_cuda() && t.is_contiguous(), "NCCL broadcast needs a contiguous CUDA tensor");
  if (comm.size() <= 1 || t.numel() == 0) return;
  auto stream = at::cuda::getCurrentCUDAStream(t.device().index());
  CollectiveScope scope("nccl broadcast (enqueue)", comm);
  MOFE_CHECK_NCCL(ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t.scalar_type()),
                                root, impl_->get(comm, comm.raw()), stream.stream()));
}

}  // namespace mofe::dist
