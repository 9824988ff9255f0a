#include "mofe/dist/communicator.h"
#include "mofe/dist/collective_trace.h"

#include <chrono>
#include <limits>
#include <utility>

#include "mofe/core/error.h"

namespace mofe::dist {

Communicator::Communicator(MPI_Comm comm, std::string name) : comm_(comm), name_(std::move(name)) {
  MOFE_CHECK_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MOFE_CHECK_MPI(MPI_Comm_rank(comm_, &rank_));
  MOFE_CHECK_MPI(MPI_Comm_size(comm_, &size_));
}

Communicator Communicator::dup(MPI_Comm comm, std::string name) {
  MPI_Comm out;
  MOFE_CHECK_MPI(MPI_Comm_dup(comm, &out));
  return Communicator(out, std::move(name));
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      rank_(other.rank_),
      size_(other.size_),
      name_(std::move(other.name_)) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    size_ = other.size_;
    name_ = std::move(other.name_);
  }
  return *this;
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

Communicator Communicator::split(int color, int key, std::string name) const {
  MPI_Comm out;
  MOFE_CHECK_MPI(MPI_Comm_split(comm_, color, key, &out));
  return Communicator(out, std::move(name));
}

void Communicator::barrier() const {
  CollectiveScope scope("barrier", *this);
  MOFE_CHECK_MPI(MPI_Barrier(comm_));
}

}  // namespace mofe::dist

namespace mofe::dist {

HostCommStats& host_collective_stats() {
  static HostCommStats s;
  return s;
}

namespace {

MPI_Op mpi_op(Reduce op) {
  return op == Reduce::kSum ? MPI_SUM : op == Reduce::kMax ? MPI_MAX : MPI_MIN;
}

int count_of(size_t n) {
  if (n > size_t(std::numeric_limits<int>::max()))
    throw CommError("host collective of " + std::to_string(n) +
                    " elements does not fit an MPI count");
  return int(n);
}

// Times and counts one host collective, inside the trace.
struct HostCall {
  CollectiveScope scope;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  HostCall(const char* op, const Communicator& c, int64_t bytes) : scope(op, c) {
    host_collective_stats().calls += 1;
    host_collective_stats().bytes += bytes;
  }
  ~HostCall() {
    host_collective_stats().seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

}  // namespace

void Communicator::all_reduce(std::vector<int64_t>& v, Reduce op) const {
  HostCall call("all_reduce (host)", *this, int64_t(v.size() * 8));
  MOFE_CHECK_MPI(
      MPI_Allreduce(MPI_IN_PLACE, v.data(), count_of(v.size()), MPI_INT64_T, mpi_op(op), comm_));
}

void Communicator::all_reduce(double* values, int64_t n, Reduce op) const {
  HostCall call("all_reduce (host)", *this, n * 8);
  MOFE_CHECK_MPI(
      MPI_Allreduce(MPI_IN_PLACE, values, count_of(size_t(n)), MPI_DOUBLE, mpi_op(op), comm_));
}

void Communicator::all_reduce(std::vector<double>& v, Reduce op) const {
  all_reduce(v.data(), int64_t(v.size()), op);
}

std::vector<double> Communicator::all_gather(double value) const {
  // Each rank fills its own slot of zeros; the sum is every rank's value in place.
  std::vector<double> all(size_t(size_), 0.0);
  all[size_t(rank_)] = value;
  all_reduce(all, Reduce::kSum);
  return all;
}

int64_t Communicator::all_reduce(int64_t value, Reduce op) const {
  std::vector<int64_t> v{value};
  all_reduce(v, op);
  return v[0];
}

double Communicator::all_reduce(double value, Reduce op) const {
  std::vector<double> v{value};
  all_reduce(v, op);
  return v[0];
}

std::vector<std::string> Communicator::all_gather(const std::string& bytes) const {
  HostCall call("all_gather (host)", *this, int64_t(bytes.size()));
  int len = count_of(bytes.size());
  std::vector<int> lens(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
  MOFE_CHECK_MPI(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm_));
  int64_t total = 0;
  for (int r = 0; r < size_; ++r)
    displs[size_t(r)] = count_of(size_t(total)), total += lens[size_t(r)];
  std::string all(static_cast<size_t>(total), '\0');
  MOFE_CHECK_MPI(MPI_Allgatherv(bytes.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(),
                                MPI_CHAR, comm_));
  std::vector<std::string> out;
  for (int r = 0; r < size_; ++r)
    out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(lens[size_t(r)])));
  return out;
}

std::vector<std::string> Communicator::gather(const std::string& bytes, int root) const {
  HostCall call("gather (host)", *this, int64_t(bytes.size()));
  int len = count_of(bytes.size());
  std::vector<int> lens(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
  MOFE_CHECK_MPI(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, root, comm_));
  int64_t total = 0;
  if (rank_ == root)
    for (int r = 0; r < size_; ++r)
      displs[size_t(r)] = count_of(size_t(total)), total += lens[size_t(r)];
  std::string all(static_cast<size_t>(total), '\0');
  MOFE_CHECK_MPI(MPI_Gatherv(bytes.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(),
                             MPI_CHAR, root, comm_));
  std::vector<std::string> out;
  if (rank_ == root)
    for (int r = 0; r < size_; ++r)
      out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(lens[size_t(r)])));
  return out;
}

void Communicator::broadcast(std::string& bytes, int root) const {
  HostCall call("broadcast (host)", *this, int64_t(bytes.size()));
  int64_t len = int64_t(bytes.size());
  MOFE_CHECK_MPI(MPI_Bcast(&len, 1, MPI_INT64_T, root, comm_));
  bytes.resize(size_t(len));
  MOFE_CHECK_MPI(MPI_Bcast(bytes.data(), count_of(size_t(len)), MPI_CHAR, root, comm_));
}

}  // namespace mofe::dist
