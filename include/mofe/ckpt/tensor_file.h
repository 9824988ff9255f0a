// TensorFile: named tensors in one HDF5 file, each a typed 1-D dataset (float32, float64, or
// bfloat16/float16 as their 16 bits; chunked with Fletcher-32; not compressed: weights do not
// compress and deflate is slow), with an
// index dataset (JSON: name -> shape, dtype, CRC-32 of the bytes). Reading verifies every CRC and
// names the file and tensor that do not match.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mofe::ckpt {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes tensors one at a time (only one is ever copied), then the index on finish(): a model
// file of any size costs one tensor's memory.
class TensorFileWriter {
 public:
  explicit TensorFileWriter(const std::string& path);
  ~TensorFileWriter();
  TensorFileWriter(const TensorFileWriter&) = delete;
  TensorFileWriter& operator=(const TensorFileWriter&) = delete;
  void add(const std::string& name, const torch::Tensor& tensor);  // f32, f64, bf16, f16
  void finish();                                                   // index, flush, close

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

void write_tensors(const std::string& path, const NamedTensors& tensors);    // flushed on return
std::map<std::string, torch::Tensor> read_tensors(const std::string& path);  // CPU, as stored

// The index alone (name -> {shape, dtype, crc32}), and one tensor of a file (CRC-checked).
nlohmann::json read_index(const std::string& path);
torch::Tensor read_tensor(const std::string& path, const std::string& name);

}  // namespace mofe::ckpt
