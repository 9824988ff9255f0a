#include "mofe/quant/nf4.h"

#include <ATen/Parallel.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace mofe::quant {

namespace {

// torch.linspace(start, end, n, dtype=float32) on the CPU, scalar path: the first half counts
// up from start, the second half down from end, step computed in float32.
std::vector<float> linspace_f32(float start, float end, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  const float step = (end - start) / float(n - 1);
  const int64_t half = n / 2;
  for (int64_t i = 0; i < n; ++i)
    out[size_t(i)] = i < half ? start + step * float(i) : end - step * float(n - i - 1);
  return out;
}

// Number of midpoints strictly below v: torch.bucketize(v, midpoints, right=False).
template <size_t N>
uint8_t bucket(float v, const std::array<float, N - 1>& mid) {
  return uint8_t(std::lower_bound(mid.begin(), mid.end(), v) - mid.begin());
}

template <size_t N>
std::array<float, N - 1> midpoints(const std::array<float, N>& code) {
  std::array<float, N - 1> m{};
  for (size_t i = 0; i + 1 < N; ++i) m[i] = (code[i] + code[i + 1]) / 2.0f;
  return m;
}

// bitsandbytes' blockwise absmax scaling: full blocks multiply by the reciprocal of their
// absmax (clamped at 1e-38), a short last block divides by its own; then clamp to [-1, 1] and
// bucketize. Writes one code per element and the absmax per block.
template <size_t N>
void quantize_blocks(const float* x, int64_t n, int64_t block, const std::array<float, N>& code,
                     uint8_t* q, float* absmax) {
  const auto mid = midpoints(code);
  const int64_t full = n - n % block;
  for (int64_t b = 0; b * block < n; ++b) {
    const int64_t begin = b * block, end = std::min(n, begin + block);
    float am = 0;
    for (int64_t i = begin; i < end; ++i) am = std::max(am, std::fabs(x[i]));
    absmax[b] = am;
    const float clamped = std::max(am, 1e-38f);
    const float inv = 1.0f / clamped;
    for (int64_t i = begin; i < end; ++i) {
      const float s = begin < full ? x[i] * inv : x[i] / clamped;
      q[i] = bucket<N>(std::min(1.0f, std::max(-1.0f, s)), mid);
    }
  }
}

}  // namespace

const std::array<float, 16>& nf4_code() {
  static const std::array<float, 16> code = {-1.0f,
                                             -0.6961928009986877f,
                                             -0.5250730514526367f,
                                             -0.39491748809814453f,
                                             -0.28444138169288635f,
                                             -0.18477343022823334f,
                                             -0.09105003625154495f,
                                             0.0f,
                                             0.07958029955625534f,
                                             0.16093020141124725f,
                                             0.24611230194568634f,
                                             0.33791524171829224f,
                                             0.44070982933044434f,
                                             0.5626170039176941f,
                                             0.7229568362236023f,
                                             1.0f};
  return code;
}

const std::array<float, 256>& dynamic_code() {
  static const std::array<float, 256> code = [] {
    // Exponent levels i = 0..6 carry 2^i fraction values each, at 10^(i - 6) times the means
    // of adjacent linspace(0.1, 1, 2^i + 1) points, both signs; then 0 and 1.
    std::vector<float> data;
    for (int i = 0; i < 7; ++i) {
      const auto b = linspace_f32(0.1f, 1.0f, (int64_t(1) << i) + 1);
      const float scale = float(std::pow(10.0, double(i - 6)));
      for (size_t k = 0; k + 1 < b.size(); ++k) {
        const float mean = (b[k] + b[k + 1]) / 2.0f;
        data.push_back(scale * mean);
        data.push_back(-scale * mean);
      }
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    std::array<float, 256> out{};
    std::sort(data.begin(), data.end());
    std::copy(data.begin(), data.end(), out.begin());
    return out;
  }();
  return code;
}

int64_t Nf4Tensor::bytes() const {
  auto b = [](const torch::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : 0; };
  return b(packed) + b(absmax) + b(absmax_q) + b(absmax2) + (double_quant ? 4 : 0);
}

int64_t nf4_bytes(int64_t numel, bool double_quant) {
  const int64_t blocks = (numel + kNf4Block - 1) / kNf4Block;
  if (!double_quant) return (numel + 1) / 2 + 4 * blocks;
  return (numel + 1) / 2 + blocks + 4 * ((blocks + kAbsmaxBlock - 1) / kAbsmaxBlock) + 4;
}

Nf4Tensor nf4_quantize(const torch::Tensor& w, bool double_quant) {
  Nf4Tensor q;
  q.shape = w.sizes().vec();
  q.numel = w.numel();
  q.double_quant = double_quant;
  auto x = w.detach().to(torch::kCPU, torch::kFloat).contiguous().reshape({-1});
  const int64_t n = q.numel, blocks = q.blocks();
  std::vector<uint8_t> codes(size_t(n + (n % 2)), 0);
  auto absmax = torch::empty({blocks}, torch::kFloat);
  quantize_blocks(x.data_ptr<float>(), n, kNf4Block, nf4_code(), codes.data(),
                  absmax.data_ptr<float>());
  if (n % 2) codes[size_t(n)] = bucket<16>(0.0f, midpoints(nf4_code()));  // the padding nibble
  q.packed = torch::empty({(n + 1) / 2}, torch::kUInt8);
  auto* p = q.packed.data_ptr<uint8_t>();
  for (int64_t i = 0; i < (n + 1) / 2; ++i)
    p[i] = uint8_t((codes[size_t(2 * i)] << 4) | codes[size_t(2 * i + 1)]);
  if (!double_quant) {
    q.absmax = absmax;
    return q;
  }
  const float* am = absmax.data_ptr<float>();
  double sum = 0;
  for (int64_t b = 0; b < blocks; ++b) sum += am[b];
  q.offset = float(sum / double(blocks));
  std::vector<float> centred(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) centred[size_t(b)] = am[b] - q.offset;
  q.absmax_q = torch::empty({blocks}, torch::kUInt8);
  q.absmax2 = torch::empty({(blocks + kAbsmaxBlock - 1) / kAbsmaxBlock}, torch::kFloat);
  quantize_blocks(centred.data(), blocks, kAbsmaxBlock, dynamic_code(),
                  q.absmax_q.data_ptr<uint8_t>(), q.absmax2.data_ptr<float>());
  return q;
}

std::vector<float> nf4_absmax(const Nf4Tensor& q, int64_t b0, int64_t b1) {
  std::vector<float> out(static_cast<size_t>(b1 - b0));
  if (!q.double_quant) {
    std::copy(q.absmax.data_ptr<float>() + b0, q.absmax.data_ptr<float>() + b1, out.begin());
    return out;
  }
  // bitsandbytes: dequantize_blockwise (code[q] * absmax2), then += offset, in float32.
  const auto& code = dynamic_code();
  const uint8_t* c = q.absmax_q.data_ptr<uint8_t>();
  const float* a2 = q.absmax2.data_ptr<float>();
  for (int64_t b = b0; b < b1; ++b) {
    const float scaled = code[c[b]] * a2[b / kAbsmaxBlock];
    out[size_t(b - b0)] = scaled + q.offset;
  }
  return out;
}

namespace {
#if defined(__x86_64__)
// AVX2: 8 elements (4 bytes) at a time, the code book looked up with two in-register
// permutes. The same float multiply code[q] * absmax as the scalar loop, so the same bits.
// `begin` is a multiple of 8 and the range whole groups of 8.
__attribute__((target("avx2"))) void dequantize_avx2(const uint8_t* p, const float* am_of_block,
                                                     int64_t first_block, int64_t begin,
                                                     int64_t end, float* out) {
  const auto& code = nf4_code();
  const __m256 lo = _mm256_loadu_ps(code.data()), hi = _mm256_loadu_ps(code.data() + 8);
  // Byte k of the 32-bit word holds elements 2k (high nibble) and 2k + 1 (low nibble).
  const __m256i shifts = _mm256_setr_epi32(4, 0, 12, 8, 20, 16, 28, 24);
  const __m256i nibble = _mm256_set1_epi32(0xF), seven = _mm256_set1_epi32(7);
  for (int64_t i = begin; i < end; i += 8) {
    uint32_t word;
    std::memcpy(&word, p + (i >> 1), 4);
    const __m256i idx =
        _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int32_t(word)), shifts), nibble);
    const __m256 from_lo = _mm256_permutevar8x32_ps(lo, idx);
    const __m256 from_hi = _mm256_permutevar8x32_ps(hi, idx);  // uses idx & 7
    const __m256 mask = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, seven));
    const __m256 v = _mm256_blendv_ps(from_lo, from_hi, mask);
    const __m256 a = _mm256_set1_ps(am_of_block[i / kNf4Block - first_block]);
    _mm256_storeu_ps(out + (i - begin), _mm256_mul_ps(v, a));
  }
}
#endif

// am[k]: the absmax of block first_block + k.
template <typename T>
void dequantize_into(const Nf4Tensor& q, const float* am_from, int64_t first_block, int64_t begin,
                     int64_t end, T* out) {
  auto am_of = [&](int64_t i) { return am_from[i / kNf4Block - first_block]; };
  const auto& code = nf4_code();
  const uint8_t* p = q.packed.data_ptr<uint8_t>();
  // Grain of whole blocks: each task reads its own absmax values and bytes.
  at::parallel_for(begin, end, 1 << 15, [&](int64_t b0, int64_t b1) {
    int64_t i = b0;
#if defined(__x86_64__)
    if constexpr (std::is_same_v<T, float>) {
      static const bool avx2 = __builtin_cpu_supports("avx2");
      const int64_t v0 = (b0 + 7) / 8 * 8, v1 = b1 / 8 * 8;
      if (avx2 && v1 > v0) {
        for (; i < v0; ++i)  // up to a multiple of 8, scalar
          out[i - begin] = T(code[(i & 1) ? (p[i >> 1] & 0xF) : (p[i >> 1] >> 4)] * am_of(i));
        dequantize_avx2(p, am_from, first_block, v0, v1, out + (v0 - begin));
        i = v1;
      }
    }
#endif
    if (i < b1 && (i & 1)) {  // an odd start: the low nibble of its byte
      out[i - begin] = T(code[p[i >> 1] & 0xF] * am_of(i));
      ++i;
    }
    for (; i + 1 < b1; i += 2) {
      const uint8_t byte = p[i >> 1];
      const float a = am_of(i);  // i even, so i and i + 1 share a block (64 is even)
      out[i - begin] = T(code[byte >> 4] * a);
      out[i + 1 - begin] = T(code[byte & 0xF] * a);
    }
    if (i < b1) out[i - begin] = T(code[p[i >> 1] >> 4] * am_of(i));
  });
}
}  // namespace

void nf4_dequantize_range(const Nf4Tensor& q, int64_t begin, int64_t end, torch::Tensor& out) {
  TORCH_CHECK(out.is_contiguous() && out.numel() == end - begin, "nf4: bad output buffer");
  if (end <= begin) return;
  const int64_t b0 = begin / kNf4Block, b1 = (end - 1) / kNf4Block + 1;
  const auto am = nf4_absmax(q, b0, b1);
  if (out.scalar_type() == torch::kFloat)
    dequantize_into(q, am.data(), b0, begin, end, out.data_ptr<float>());
  else if (out.scalar_type() == torch::kDouble)
    dequantize_into(q, am.data(), b0, begin, end, out.data_ptr<double>());
  // 16-bit compute dtypes (mixed precision): code x absmax in float32, rounded once.
  else if (out.scalar_type() == torch::kBFloat16)
    dequantize_into(q, am.data(), b0, begin, end, out.data_ptr<c10::BFloat16>());
  else if (out.scalar_type() == torch::kHalf)
    dequantize_into(q, am.data(), b0, begin, end, out.data_ptr<c10::Half>());
  else
    TORCH_CHECK(false, "nf4: dequantise to float32, float64, bfloat16 or float16, not ",
                out.scalar_type());
}

torch::Tensor nf4_dequantize(const Nf4Tensor& q, torch::ScalarType dtype) {
  auto out = torch::empty({q.numel}, torch::TensorOptions().dtype(dtype));
  nf4_dequantize_range(q, 0, q.numel, out);
  return out.view(q.shape);
}

}  // namespace mofe::quant
