#include "mofe/dist/communicator.h"
#include "mofe/dist/collective_trace.h"

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
