// Hugging Face model directories: read (Llama or Mixtral, one or sharded safetensors files)
// and write (Mixtral or Llama, sharded, with model.safetensors.index.json).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mofe/io/model_source.h"
#include "mofe/io/safetensors.h"

namespace mofe::io {

// True when `dir` looks like a Hugging Face model (config.json + *.safetensors).
bool is_hf_dir(const std::string& dir);

class HfModel : public ModelSource {
 public:
  // Reads config.json (LlamaForCausalLM | MixtralForCausalLM) and maps every safetensors file;
  // UsageError for an architecture or feature mofe does not model, IoError for bad files.
  explicit HfModel(const std::string& dir);

  const config::ModelConfig& config() const override { return config_; }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override { return where_.count(name) > 0; }
  torch::Tensor load(const std::string& name) const override;
  std::string kind() const override { return "hf"; }
  const std::string& path() const override { return dir_; }
  std::string checksum() const override { return checksum_; }
  std::string source_dtype() const override { return dtype_; }
  std::string tensor_dtype(const std::string& name) const override;

 private:
  std::string dir_, checksum_, dtype_;
  config::ModelConfig config_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::pair<size_t, const StTensor*>> where_;  // mofe name -> file, tensor
  std::deque<StTensor> virtual_;  // per-expert views of fused stacked tensors
  bool split_fused(const StTensor& t, size_t file);
};

// Converts a stored tensor to a CPU torch tensor (F16/BF16/F32 -> float32, F64 -> float64).
torch::Tensor to_torch(const StTensor& t, const std::string& file);

struct HfExportOptions {
  std::string layout = "mixtral";  // mixtral (w1/w2/w3 per expert) | fused (gate_up_proj)
  std::string dtype = "bfloat16";  // bfloat16 | float16 | float32
  int64_t shard_bytes = 2'000'000'000;
};

// Writes `source` as a Hugging Face directory: config.json, model-0000k-of-0000n.safetensors,
// model.safetensors.index.json. Returns the number of tensors written.
int64_t write_hf_model(const ModelSource& source, const std::string& dir,
                       const HfExportOptions& opt);

}  // namespace mofe::io
