// MpiEnv: RAII owner of MPI_Init_thread / MPI_Finalize, and the node-local rank used to pick a
// GPU and a thread count. Create exactly one, first thing in main(); destroy it last.
#pragma once

namespace mofe::dist {

class MpiEnv {
 public:
  MpiEnv(int* argc, char*** argv);
  ~MpiEnv();
  MpiEnv(const MpiEnv&) = delete;
  MpiEnv& operator=(const MpiEnv&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }  // rank among the processes on this node
  int local_size() const { return local_size_; }
  int thread_level() const { return thread_level_; }

  // Stop every rank now (a failure on one rank must not leave the others in a collective).
  [[noreturn]] static void abort(int code);

 private:
  int world_rank_ = 0, world_size_ = 1, local_rank_ = 0, local_size_ = 1, thread_level_ = 0;
  bool owns_ = false;
};

}  // namespace mofe::dist
