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
#include "mofe/model/transformer.h"

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
  // The stored dtype of one tensor (BF16, F16, F32, F64): models can mix them (embeddings in
  // F16, the rest F32), and an export with --dtype auto keeps each.
  virtual std::string tensor_dtype(const std::string& name) const {
    (void)name;
    return source_dtype();
  }
  // The adapters it holds besides the base weights (a PEFT checkpoint): {"mode": "lora" |
  // "dora" | "qlora", "peft": config::PeftConfig as JSON}; null for a plain model.
  virtual nlohmann::json adapters() const { return nullptr; }
};

// Copies the source's weights into every weight `model` holds (an expert-parallel rank holds
// only its experts), converting to the parameter's dtype or quantising into its compressed
// store; throws IoError naming the source and tensor when a base weight is missing or has
// another shape. Adapter tensors are taken when the source has them (a PEFT checkpoint): all
// of them or none. Returns the number of adapter tensors loaded.
int64_t load_into(const ModelSource& src, model::TransformerImpl& model);

}  // namespace mofe::io
