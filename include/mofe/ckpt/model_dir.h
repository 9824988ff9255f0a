// A mofe model directory, made by `mofe import` or `mofe merge` and read wherever mofe takes a
// model (train --model, merge, export, eval):
//   model.json                   {"format": "mofe-model", "config": HF-style model config,
//                                 "source_dtype", "provenance" (sources, merge config,
//                                 checksums), "checksum"}; written last: its presence means
//                                 the directory is complete
//   dense.h5                     every non-expert tensor (router included), each in the dtype
//                                its source stored it in (bf16, f16, f32)
//   experts/layerLL_expertEE.h5  one expert FFN of one layer, so any expert-parallel layout
//                                reads only the experts it holds
// Tensor files are ckpt/tensor_file (CRC-32 per tensor, Fletcher-32 per chunk).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mofe/dist/communicator.h"
#include "mofe/io/model_source.h"

namespace mofe::ckpt {

// "experts/layerLL_expertEE.h5": where one expert of one layer lives, in model directories and
// checkpoints alike (named by layer and expert, never by rank).
std::string expert_file(int64_t layer, int64_t expert);

struct ModelDirInfo {
  config::ModelConfig config;
  std::string source_dtype = "F32";
  nlohmann::json provenance = nlohmann::json::object();
  // The dtype each tensor is stored in (BF16, F16, F32; F64 is stored as F32); unset: F32.
  std::function<std::string(const std::string&)> dtype_of;
};

// Writes every tensor of info.config's layout, taking each from `get(name)`. Collective over
// `comm`: rank 0 writes dense.h5, expert files are dealt round-robin over the ranks, and rank 0
// writes model.json after all are done, copies `extra_files` (source path, name in the
// directory; e.g. the tokenizer) and publishes the directory: everything is written into
// <dir>.tmp-*/ and renamed into place at the end (io/staged_dir.h), so a failure leaves the
// previous <dir> untouched. Returns the model's checksum (on every rank).
std::string write_model_dir(
    const std::string& dir, const ModelDirInfo& info,
    const std::function<torch::Tensor(const std::string&)>& get, const dist::Communicator& comm,
    const std::vector<std::pair<std::string, std::string>>& extra_files = {});

class ModelDir : public io::ModelSource {
 public:
  explicit ModelDir(const std::string& dir);
  const config::ModelConfig& config() const override { return info_.config; }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override { return file_of_.count(name) > 0; }
  torch::Tensor load(const std::string& name) const override;
  std::string kind() const override { return "mofe-model"; }
  const std::string& path() const override { return dir_; }
  std::string checksum() const override { return checksum_; }
  std::string source_dtype() const override { return info_.source_dtype; }
  std::string tensor_dtype(const std::string& name) const override;
  const nlohmann::json& provenance() const { return info_.provenance; }

 private:
  std::string dir_, checksum_;
  ModelDirInfo info_;
  std::map<std::string, std::string> file_of_;
  mutable std::map<std::string, nlohmann::json> index_cache_;
};

}  // namespace mofe::ckpt
