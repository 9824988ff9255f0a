// ModelSource: where a model's weights come from, by mofe parameter name, whatever the format
// (a Hugging Face directory, a mofe model directory from import/merge, a mofe checkpoint).
// Tensors are read one at a time on demand, so a merge or an expert-parallel rank only ever
// holds what it needs.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mofe/config/model_config.h"

namespace mofe::io {

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  virtual const config::ModelConfig& config() const = 0;
  virtual std::vector<std::string> names() const = 0;  // mofe names it holds
  virtual bool has(const std::string& name) const = 0;
  // CPU tensor: float32 for 16- and 32-bit stored weights, float64 for float64 ones.
  // Throws IoError naming the file and tensor.
  virtual torch::Tensor load(const std::string& name) const = 0;
  virtual std::string kind() const = 0;          // "hf" | "mofe-model" | "mofe-checkpoint"
  virtual const std::string& path() const = 0;   // as given
  virtual std::string checksum() const = 0;      // identifies these weights (crc32:...)
  virtual std::string source_dtype() const = 0;  // stored dtype of the weights: BF16, F32, ...
};

// Copies the source's weights into every parameter `model` holds (an expert-parallel rank
// holds only its experts), converting to the parameter's dtype; throws IoError naming the
// source and tensor when one is missing or has another shape.
void load_into(const ModelSource& src, torch::nn::Module& model);

}  // namespace mofe::io
