// SeededModel: a ModelSource whose tensors are mofe's seeded initialisation (init_parameter):
// the frozen experts of a checkpoint trained from scratch, and synthetic models of any size
// for tests and benchmarks (tools/make_hf_model).
#pragma once

#include <map>

#include "mofe/io/model_source.h"

namespace mofe::io {

class SeededModel : public ModelSource {
 public:
  // `norm_jitter` > 0 draws norm weights as 1 + N(0, jitter) instead of ones (tests want
  // norms that matter). `path` is only a label.
  SeededModel(const config::ModelConfig& cfg, uint64_t seed, torch::ScalarType dtype,
              double norm_jitter = 0.0, std::string path = "seeded");

  const config::ModelConfig& config() const override { return cfg_; }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override { return shapes_.count(name) > 0; }
  torch::Tensor load(const std::string& name) const override;
  std::string kind() const override { return "seeded"; }
  const std::string& path() const override { return path_; }
  std::string checksum() const override { return "seed:" + std::to_string(seed_); }
  std::string source_dtype() const override;

 private:
  config::ModelConfig cfg_;
  uint64_t seed_;
  torch::ScalarType dtype_;
  double norm_jitter_;
  std::string path_;
  std::map<std::string, std::vector<int64_t>> shapes_;
};

}  // namespace mofe::io
