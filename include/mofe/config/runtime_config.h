// RuntimeConfig: where and how the numbers are computed (device, dtype, threads, comm backend).
#pragma once

#include <cstdint>
#include <string>

namespace mofe::config {

struct RuntimeConfig {
  std::string device = "auto";    // auto | cpu | cuda (cuda: one GPU per local rank)
  std::string dtype = "float32";  // float32 | float64 (float64 for exact equivalence checks)
  // fp32 | bf16-mixed | fp16-mixed. Mixed: matmuls and activations in the 16-bit type,
  // trainable parameters (the master copy) and AdamW moments in float32; the loss, the head's
  // log-softmax, RMSNorm statistics, attention and router softmax in float32.
  std::string precision = "fp32";
  std::string grad_reduce_dtype = "fp32";  // fp32 | bf16: the gradient all-reduce's wire type
  // auto (dynamic under fp16-mixed, else none) | none | dynamic | a fixed scale > 0.
  std::string loss_scale = "auto";
  int64_t loss_scale_window = 2000;  // dynamic: good steps in a row before the scale doubles
  int threads = 0;                   // intra-op threads per rank; 0 = cores / local ranks
  std::string comm = "mpi";          // mpi | nccl (nccl needs a build with MOFE_WITH_NCCL)
  bool blas_probe = true;            // time a small matmul at start-up and warn when BLAS is slow
  // Seconds without a finished step before the job is aborted: > 0 fixed, 0 off, < 0 auto
  // (train/watchdog.h: 20 x the slowest of the first steps, at least watchdog_floor).
  double step_timeout = -1;
  double watchdog_floor = 600;
  std::string memory_check = "refuse";  // refuse | warn | off: a rank's estimate vs free memory

  void validate() const;
  bool mixed() const { return precision != "fp32"; }
  // The loss scale the run starts with: 0 = no scaling (auto resolved by precision).
  double initial_loss_scale() const;
  bool dynamic_loss_scale() const;
};

}  // namespace mofe::config
