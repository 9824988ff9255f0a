// Communicator: an owning, move-only wrapper of an MPI communicator with a name ("world",
// "ep", "dp") for messages. Every communicator mofe uses is a dup or split, never
// MPI_COMM_WORLD itself, and errors return to the caller (MOFE_CHECK_MPI) instead of aborting.
#pragma once

#include <mpi.h>

#include <string>

namespace mofe::dist {

class Communicator {
 public:
  Communicator() = default;  // null communicator
  static Communicator dup(MPI_Comm comm, std::string name);
  static Communicator world() { return dup(MPI_COMM_WORLD, "world"); }

  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator();

  // Collective over this communicator: ranks with the same color form a new one, ordered by key.
  Communicator split(int color, int key, std::string name) const;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& name() const { return name_; }
  void barrier() const;
  MPI_Comm raw() const { return comm_; }  // for dist/ backends only

 private:
  Communicator(MPI_Comm comm, std::string name);
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 0;
  std::string name_;
};

}  // namespace mofe::dist
