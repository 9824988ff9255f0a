// RuntimeConfig: where and how the numbers are computed (device, dtype, threads, comm backend).
#pragma once

#include <string>

namespace mofe::config {

struct RuntimeConfig {
  std::string device = "auto";    // auto | cpu | cuda (cuda: one GPU per local rank)
  std::string dtype = "float32";  // float32 | float64 (float64 for exact equivalence checks)
  int threads = 0;                // intra-op threads per rank; 0 = cores / local ranks
  std::string comm = "mpi";       // mpi | nccl (nccl needs a build with MOFE_WITH_NCCL)
  bool blas_probe = true;         // time a small matmul at start-up and warn when BLAS is slow
  // Seconds without a finished step before the job is aborted: > 0 fixed, 0 off, < 0 auto
  // (train/watchdog.h: 20 x the slowest of the first steps, at least watchdog_floor).
  double step_timeout = -1;
  double watchdog_floor = 600;
  std::string memory_check = "refuse";  // refuse | warn | off: a rank's estimate vs free memory

  void validate() const;
};

}  // namespace mofe::config
