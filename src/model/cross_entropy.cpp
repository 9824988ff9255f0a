#include "mofe/model/cross_entropy.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>

// The row loops vectorise when exp has vector copies the compiler may call. glibc's libmvec
// has them (linked through libm); its headers declare them only under -ffast-math, which this
// file must not use (the sums and the maximum keep IEEE semantics apart from the order of the
// additions), so the declarations are repeated here, as glibc's math-vector.h writes them.
// target_clones builds an AVX-512, an AVX2 and a baseline copy of each loop, chosen at load
// time; elsewhere the loops are plain scalar code. This file is compiled with -fno-math-errno
// (no errno path in exp/log) and -fopenmp-simd (the reductions' pragmas, no OpenMP runtime).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
extern "C" {
__attribute__((__simd__("notinbranch"))) float expf(float) noexcept;
__attribute__((__simd__("notinbranch"))) double exp(double) noexcept;
}
#define MOFE_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MOFE_SIMD_CLONES
#endif

namespace mofe::model {

namespace {

inline float exp_of(float x) { return ::expf(x); }
inline double exp_of(double x) { return ::exp(x); }

// One valid row: returns logsumexp(x) - x[t]; out (when given, may be x) gets
// softmax(x) - onehot(t). Three passes over the row, the last two in cache: the maximum; the
// exponentials of x - max (written to out) and their sum; the scaling by 1 / sum.
// The sum is accumulated in double whatever T is: 32000 float32 terms in one float
// accumulator (what an unvectorised build does) lose ~2e-5 relative, and how the compiler
// splits the reduction would then change the result.
template <typename T>
MOFE_SIMD_CLONES T row(const T* x, T* out, int64_t V, int64_t t) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < V; ++i) m = x[i] > m ? x[i] : m;
  const T xt = x[t];  // before out (possibly x) is overwritten
  double s = 0;
  if (out) {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < V; ++i) {
      const T e = exp_of(x[i] - m);
      out[i] = e;
      s += double(e);
    }
    const T inv = T(1.0 / s);
#pragma omp simd
    for (int64_t i = 0; i < V; ++i) out[i] *= inv;
    out[t] -= T(1);
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < V; ++i) s += double(exp_of(x[i] - m));
  }
  // log(s) - (x[t] - max): the difference is exact, so large logits lose no digits (the order
  // lse - x[t] would round at their magnitude). A NaN logit is passed over by the maximum but
  // not by the sum, so the loss is NaN.
  return T(std::log(s) - double(xt - m));
}

template <typename T>
void rows_cpu(const torch::Tensor& x_RV, const torch::Tensor& targets_R,
              const torch::Tensor& valid_R, torch::Tensor& loss_R, const torch::Tensor& grad_RV) {
  const int64_t R = x_RV.size(0), V = x_RV.size(1);
  const T* x = x_RV.data_ptr<T>();
  T* grad = grad_RV.defined() ? grad_RV.data_ptr<T>() : nullptr;
  T* loss = loss_R.data_ptr<T>();
  const auto targets = targets_R.contiguous();
  const auto valid = valid_R.contiguous();
  const int64_t* t = targets.data_ptr<int64_t>();
  const bool* ok = valid.data_ptr<bool>();
  // Rows are independent; a grain of about 32k elements, as ATen's own kernels use.
  const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(1, V));
  at::parallel_for(0, R, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T* out = grad ? grad + r * V : nullptr;
      if (!ok[r]) {
        loss[r] = 0;
        if (out) std::fill(out, out + V, T(0));
        continue;
      }
      TORCH_CHECK(t[r] >= 0 && t[r] < V, "cross entropy: target ", t[r], " outside [0, ", V, ")");
      loss[r] = row<T>(x + r * V, out, V, t[r]);
    }
  });
}

}  // namespace

void cross_entropy_rows_generic(const torch::Tensor& x_RV, const torch::Tensor& targets_R,
                                const torch::Tensor& valid_R, torch::Tensor& loss_R,
                                const torch::Tensor& grad_RV) {
  // log_softmax: x_t - max - log(sum), exact in the difference as the CPU rows are; its exp is
  // the softmax. Written into the gradient's buffer unless that is x itself (the kernels are
  // not documented to work in place).
  const bool own = grad_RV.defined() && !grad_RV.is_same(x_RV);
  auto lsm = own ? grad_RV : torch::empty_like(x_RV);
  at::_log_softmax_out(lsm, x_RV, 1, /*half_to_float=*/false);
  const auto safe = targets_R.masked_fill(valid_R.logical_not(), 0).unsqueeze(1);
  const auto keep = valid_R.to(x_RV.scalar_type());
  loss_R.copy_(-lsm.gather(1, safe).squeeze(1) * keep);
  if (!grad_RV.defined()) return;
  lsm.exp_();
  lsm.scatter_add_(1, safe, -torch::ones_like(safe, x_RV.options()));
  lsm.mul_(keep.unsqueeze(1));
  if (!own) grad_RV.copy_(lsm);
}

void cross_entropy_rows(const torch::Tensor& x_RV, const torch::Tensor& targets_R,
                        const torch::Tensor& valid_R, torch::Tensor& loss_R,
                        const torch::Tensor& grad_RV) {
  TORCH_CHECK(x_RV.dim() == 2 && x_RV.is_contiguous(), "cross entropy: logits must be [R, V]");
  TORCH_CHECK(loss_R.is_contiguous() && loss_R.numel() == x_RV.size(0) &&
                  loss_R.scalar_type() == x_RV.scalar_type(),
              "cross entropy: loss must be [R] in the logits' dtype");
  TORCH_CHECK(!grad_RV.defined() || (grad_RV.is_contiguous() && grad_RV.sizes() == x_RV.sizes() &&
                                     grad_RV.scalar_type() == x_RV.scalar_type()),
              "cross entropy: gradient must be [R, V] in the logits' dtype");
  if (x_RV.is_cpu() && x_RV.scalar_type() == torch::kFloat)
    rows_cpu<float>(x_RV, targets_R, valid_R, loss_R, grad_RV);
  else if (x_RV.is_cpu() && x_RV.scalar_type() == torch::kDouble)
    rows_cpu<double>(x_RV, targets_R, valid_R, loss_R, grad_RV);
  else
    cross_entropy_rows_generic(x_RV, targets_R, valid_R, loss_R, grad_RV);
}

}  // namespace mofe::model
