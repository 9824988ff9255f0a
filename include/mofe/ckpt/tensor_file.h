// TensorFile: named tensors in one HDF5 file, each a typed 1-D dataset (float32 or float64,
// deflate + Fletcher-32), with an index dataset (JSON: name -> shape, dtype, CRC-32 of the
// bytes). Reading verifies every CRC and names the file and tensor that do not match.
#pragma once

#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mofe::ckpt {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

void write_tensors(const std::string& path, const NamedTensors& tensors);    // flushed on return
std::map<std::string, torch::Tensor> read_tensors(const std::string& path);  // CPU tensors

// The index alone (name -> {shape, dtype, crc32}), and one tensor of a file (CRC-checked).
nlohmann::json read_index(const std::string& path);
torch::Tensor read_tensor(const std::string& path, const std::string& name);

}  // namespace mofe::ckpt
