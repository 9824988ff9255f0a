// 4-bit NormalFloat (NF4) storage, as bitsandbytes' quantize_4bit(quant_type="nf4") makes it
// (QLoRA, Dettmers et al. 2023), so that a frozen weight costs about half a byte:
//   blocks of 64 consecutive elements of the flattened tensor, each with its float32 absmax;
//   x / absmax is rounded to the nearest of the 16 NF4 code values (ties to the lower one, the
//   midpoint rule of torch.bucketize); two codes per byte, the even element in the high nibble;
//   a tensor whose size is not a multiple of 64 ends in a short block with its own absmax,
//   and an odd element count is padded with the code of 0.0 (bitsandbytes' rules, so any
//   shape is accepted).
// Double quantisation (bnb_4bit_use_double_quant): the absmax values minus their mean are
// themselves quantised to 8 bits with bitsandbytes' signed dynamic map, blocks of 256, each
// with a float32 absmax; the mean is kept as a float32 offset. 64 elements then cost
// 32 bytes + 1 byte + 4/256 bytes: 0.516 bytes per element instead of 0.5625.
//
// Everything here is float32 arithmetic in the order bitsandbytes' reference ("default"
// backend) does it, element by element, so results do not depend on threads or vector width.
// The mean of the absmax values is summed in double and rounded once (the one step where the
// reference's order is torch's reduction order, which no other implementation can match).
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <vector>

namespace mofe::quant {

constexpr int64_t kNf4Block = 64;      // elements per absmax (bitsandbytes' blocksize default)
constexpr int64_t kAbsmaxBlock = 256;  // absmax values per second-level scale

// bitsandbytes' published NF4 code book, get_4bit_type("nf4").
const std::array<float, 16>& nf4_code();
// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), sorted.
const std::array<float, 256>& dynamic_code();

struct Nf4Tensor {
  std::vector<int64_t> shape;
  int64_t numel = 0;
  torch::Tensor packed;  // uint8 [ceil(numel / 2)]
  torch::Tensor absmax;  // float32 [blocks]      (without double quantisation)
  bool double_quant = false;
  torch::Tensor absmax_q;  // uint8 [blocks]        (with double quantisation)
  torch::Tensor absmax2;   // float32 [ceil(blocks / 256)]
  float offset = 0;        // mean of the absmax values
  int64_t blocks() const { return (numel + kNf4Block - 1) / kNf4Block; }
  int64_t bytes() const;  // storage, every buffer counted
};

// Bytes an NF4 tensor of `numel` elements takes (Nf4Tensor::bytes() without building it).
int64_t nf4_bytes(int64_t numel, bool double_quant);

// w: any floating tensor (converted to float32 first, as bitsandbytes requires).
Nf4Tensor nf4_quantize(const torch::Tensor& w, bool double_quant);

// The absmax values of blocks [b0, b1) as float32 (dequantised when double-quantised).
std::vector<float> nf4_absmax(const Nf4Tensor& q, int64_t b0, int64_t b1);

// Elements [begin, end) of the flattened tensor, dequantised into `out` (contiguous, end - begin
// elements, float32 or float64: float32 values, then converted). Only the scales of the blocks
// in the range are dequantised, so no full-size scale array is ever held.
void nf4_dequantize_range(const Nf4Tensor& q, int64_t begin, int64_t end, torch::Tensor& out);

// The whole tensor, in `dtype`.
torch::Tensor nf4_dequantize(const Nf4Tensor& q, torch::ScalarType dtype);

}  // namespace mofe::quant
