// Communicator: an owning, move-only wrapper of an MPI communicator with a name ("world",
// "ep", "dp") for messages. Every communicator mofe uses is a dup or split, never
// MPI_COMM_WORLD itself, and errors return to the caller (MOFE_CHECK_MPI) instead of aborting.
//
// It also carries the small host-side collectives the rest of mofe needs (counts, flags,
// metrics, text), so that no MPI call lives outside dist/: each goes through the collective
// trace (the --step-timeout watchdog names it) and the host byte counters
// (host_collective_stats()). Tensors cross ranks through CommBackend (dist/backend.h).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mofe::dist {

enum class Reduce { kSum, kMax, kMin };

// Calls, bytes and seconds of the host collectives of this process.
struct HostCommStats {
  int64_t calls = 0, bytes = 0;
  double seconds = 0;
};
HostCommStats& host_collective_stats();

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

  // Host collectives, each collective over this communicator.
  void all_reduce(double* values, int64_t n, Reduce op = Reduce::kSum) const;
  void all_reduce(std::vector<int64_t>& values, Reduce op = Reduce::kSum) const;
  void all_reduce(std::vector<double>& values, Reduce op = Reduce::kSum) const;
  int64_t all_reduce(int64_t value, Reduce op) const;
  double all_reduce(double value, Reduce op) const;
  // True on every rank iff `ok` is true on every rank.
  bool all_true(bool ok) const { return all_reduce(int64_t(ok ? 1 : 0), Reduce::kMin) == 1; }
  // Every rank's bytes, in rank order (on every rank).
  std::vector<std::string> all_gather(const std::string& bytes) const;
  // Every rank's value, in rank order (on every rank): e.g. each rank's peak memory.
  std::vector<double> all_gather(double value) const;
  // Every rank's bytes on `root` (empty elsewhere).
  std::vector<std::string> gather(const std::string& bytes, int root) const;
  // root's bytes on every rank.
  void broadcast(std::string& bytes, int root) const;

 private:
  friend class MpiBackend;
  friend class NcclBackend;
  friend class CommBackend;
  MPI_Comm raw() const { return comm_; }
  Communicator(MPI_Comm comm, std::string name);
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 0;
  std::string name_;
};

}  // namespace mofe::dist
