#include "mofe/core/device.h"

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "mofe/core/error.h"
#include "mofe/core/log.h"

namespace mofe::core {

torch::Device select_device(const config::RuntimeConfig& rt, int local_rank) {
  const bool have_gpu = torch::cuda::is_available();
  if (rt.device == "cpu" || (rt.device == "auto" && !have_gpu)) return torch::Device(torch::kCPU);
  if (!have_gpu) throw UsageError("--device cuda: no GPU is visible to LibTorch on this node");
  const int n = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % n));
}

int configure_threads(const config::RuntimeConfig& rt, int local_size) {
  int n = rt.threads;
  if (n == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    n = std::max(1, cores / std::max(1, local_size));
  }
  torch::set_num_threads(n);
  return n;
}

std::string blas_library() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found = "unknown";
  while (std::getline(maps, line)) {
    auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    std::string path = line.substr(pos);
    if (path.find("openblas") != std::string::npos) {
      auto dir_end = path.rfind('/');
      auto dir_start = path.rfind('/', dir_end - 1);
      return "openblas (" + path.substr(dir_start + 1, dir_end - dir_start - 1) + ")";
    }
    if (path.find("libmkl") != std::string::npos) return "mkl";
    if (path.find("/blas/libblas") != std::string::npos) found = "reference BLAS (" + path + ")";
  }
  return found;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

double matmul_flops(int64_t n, int reps, torch::ScalarType dtype, torch::Device device) {
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  auto a = torch::randn({n, n}, opts);
  auto b = torch::randn({n, n}, opts);
  auto c = torch::mm(a, b);  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    synchronize(device);
    auto t0 = std::chrono::steady_clock::now();
    c = torch::mm(a, b);
    synchronize(device);
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * n * n * n / best;
}

void report_blas(int threads, bool probe) {
  std::string msg =
      "BLAS: " + blas_library() + ", " + std::to_string(threads) + " intra-op threads";
  if (probe) {
    const double gf = matmul_flops(512, 3) / 1e9;
    char buf[64];
    std::snprintf(buf, sizeof buf, ", matmul probe %.1f GFLOP/s", gf);
    msg += buf;
    log::info0(msg);
    // OpenBLAS reaches ~75 GFLOP/s per core on this class of machine, the reference BLAS ~4.
    if (gf < 12.0 * threads)
      log::warn0("matmul probe is only " + std::to_string(gf) +
                 " GFLOP/s: LibTorch is probably using the reference BLAS. Install "
                 "libopenblas0-openmp (tools/setup.sh) - training will be ~20x slower without it.");
    return;
  }
  log::info0(msg);
}

}  // namespace mofe::core
