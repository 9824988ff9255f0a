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
  double step_timeout = 0;        // seconds without a finished step before aborting; 0: off

  void validate() const;
};

}  // namespace mofe::config
