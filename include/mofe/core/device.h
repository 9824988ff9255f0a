// Where a rank computes: device choice (one GPU per local rank), intra-op threads, and a
// start-up report of the BLAS LibTorch runs with, with a matmul speed probe.
#pragma once

#include <torch/torch.h>

#include <string>

#include "mofe/config/runtime_config.h"

namespace mofe::core {

// "auto": cuda:(local_rank % gpus) when LibTorch sees a GPU, else cpu. "cuda" without a GPU is a
// UsageError.
torch::Device select_device(const config::RuntimeConfig& rt, int local_rank);

// threads == 0: hardware cores / ranks on this node (at least 1). Returns the count set.
int configure_threads(const config::RuntimeConfig& rt, int local_size);

// The BLAS library mapped into this process (from /proc/self/maps), e.g. "openblas-openmp".
std::string blas_library();

// FLOP/s of an n x n x n matmul in `dtype` on `device` (CPU: with the current threads), best
// of `reps`, synchronising the device around each timed product.
double matmul_flops(int64_t n, int reps, torch::ScalarType dtype = torch::kFloat32,
                    torch::Device device = torch::kCPU);

// Waits for queued work on `device` (no-op on the CPU), so host timers measure the work.
void synchronize(const torch::Device& device);

// Rank 0 prints "BLAS: <lib>, <threads> threads, <x> GFLOP/s"; warns loudly when the probe is
// far below what OpenBLAS gives (the reference BLAS is ~20x slower).
void report_blas(int threads, bool probe);

}  // namespace mofe::core
