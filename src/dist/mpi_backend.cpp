#include "mofe/dist/mpi_backend.h"
#include "mofe/dist/collective_trace.h"

#include <chrono>
#include <limits>

#include "mofe/core/error.h"

namespace mofe::dist {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > std::numeric_limits<int>::max())
    throw CommError(std::string(what) + " " + std::to_string(v) + " does not fit an MPI count");
  return static_cast<int>(v);
}

// RAII for a derived datatype: one "row" of D elements, so counts stay in rows (no int overflow
// for D * rows beyond 2^31 elements).
struct RowType {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  RowType(int64_t row_elems, MPI_Datatype elem) {
    MOFE_CHECK_MPI(MPI_Type_contiguous(to_int(row_elems, "row width"), elem, &type));
    MOFE_CHECK_MPI(MPI_Type_commit(&type));
  }
  ~RowType() {
    if (type != MPI_DATATYPE_NULL) MPI_Type_free(&type);
  }
};

// MPI has no 16-bit floating-point types: bfloat16 and float16 travel as 16-bit words
// (MPI_UINT16_T), and their sum is a user operation that adds in float32 and rounds once per
// pair, as NCCL's bf16 all-reduce does.
template <typename T>
void sum_16bit(void* in, void* inout, int* len, MPI_Datatype*) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = T(float(a[i]) + float(b[i]));
}

// Created once, on first use (after MPI_Init); lives as long as the process.
template <typename T>
MPI_Op sum_16bit_op() {
  static MPI_Op op = [] {
    MPI_Op o;
    MOFE_CHECK_MPI(MPI_Op_create(&sum_16bit<T>, /*commute=*/1, &o));
    return o;
  }();
  return op;
}

MPI_Op sum_op(torch::ScalarType type) {
  if (type == torch::kBFloat16) return sum_16bit_op<c10::BFloat16>();
  if (type == torch::kHalf) return sum_16bit_op<c10::Half>();
  return MPI_SUM;
}

}  // namespace

MPI_Datatype mpi_datatype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat:
      return MPI_FLOAT;
    case torch::kDouble:
      return MPI_DOUBLE;
    case torch::kInt:
      return MPI_INT32_T;
    case torch::kLong:
      return MPI_INT64_T;
    case torch::kBFloat16:
    case torch::kHalf:
      return MPI_UINT16_T;  // moved as words; summed by sum_op()
    default:
      throw CommError(std::string("MPI backend: unsupported dtype ") + c10::toString(type));
  }
}

void MpiBackend::all_reduce_sum(torch::Tensor& t, const Communicator& comm) {
  auto t0 = Clock::now();
  TORCH_CHECK(t.is_contiguous(), "all_reduce_sum needs a contiguous tensor");
  if (comm.size() > 1 && t.numel() > 0) {
    torch::Tensor host = t.is_cpu() ? t : t.cpu();
    CollectiveScope scope("all_reduce_sum", comm);
    MOFE_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, host.data_ptr(), to_int(host.numel(), "elements"),
                                 mpi_datatype(host.scalar_type()), sum_op(host.scalar_type()),
                                 comm.raw()));
    if (!t.is_cpu()) t.copy_(host);
  }
  stats_.all_reduce_s += since(t0);
  stats_.all_reduce_bytes += t.numel() * t.element_size();
  stats_.all_reduce_calls += 1;
}

torch::Tensor MpiBackend::all_to_all_rows(const torch::Tensor& x_ND,
                                          const std::vector<int64_t>& send_rows,
                                          const std::vector<int64_t>& recv_rows,
                                          const Communicator& comm) {
  auto t0 = Clock::now();
  const int n = comm.size();
  TORCH_CHECK(static_cast<int>(send_rows.size()) == n && static_cast<int>(recv_rows.size()) == n,
              "all_to_all_rows: counts must have one entry per rank");
  const int64_t D = x_ND.size(1);
  int64_t total_recv = 0;
  for (int64_t r : recv_rows) total_recv += r;
  torch::Tensor send = x_ND.is_cpu() ? x_ND.contiguous() : x_ND.cpu().contiguous();
  torch::Tensor recv = torch::empty({total_recv, D}, send.options());

  std::vector<int> sc(n), sd(n), rc(n), rd(n);
  int64_t so = 0, ro = 0;
  for (int r = 0; r < n; ++r) {
    sc[r] = to_int(send_rows[r], "send rows");
    sd[r] = to_int(so, "send offset");
    rc[r] = to_int(recv_rows[r], "recv rows");
    rd[r] = to_int(ro, "recv offset");
    so += send_rows[r];
    ro += recv_rows[r];
  }
  TORCH_CHECK(so == send.size(0), "all_to_all_rows: send counts sum to ", so, " but x has ",
              send.size(0), " rows");
  if (D > 0) {
    RowType row(D, mpi_datatype(send.scalar_type()));
    CollectiveScope scope("all_to_all_rows", comm);
    MOFE_CHECK_MPI(MPI_Alltoallv(send.data_ptr(), sc.data(), sd.data(), row.type, recv.data_ptr(),
                                 rc.data(), rd.data(), row.type, comm.raw()));
  }
  stats_.all_to_all_s += since(t0);
  stats_.all_to_all_bytes += (so + ro) * D * send.element_size() / 2;
  stats_.all_to_all_calls += 1;
  return x_ND.is_cpu() ? recv : recv.to(x_ND.device());
}

void MpiBackend::broadcast(torch::Tensor& t, int root, const Communicator& comm) {
  auto t0 = Clock::now();
  TORCH_CHECK(t.is_contiguous(), "broadcast needs a contiguous tensor");
  if (comm.size() > 1 && t.numel() > 0) {
    torch::Tensor host = t.is_cpu() ? t : t.cpu();
    CollectiveScope scope("broadcast", comm);
    MOFE_CHECK_MPI(MPI_Bcast(host.data_ptr(), to_int(host.numel(), "elements"),
                             mpi_datatype(host.scalar_type()), root, comm.raw()));
    if (!t.is_cpu()) t.copy_(host);
  }
  stats_.other_s += since(t0);
}

}  // namespace mofe::dist
