// MergedSource: a model source that holds adapters (a PEFT checkpoint), seen as the plain
// model with every adapter folded into its base weight (LoRA: W + scaling B A; DoRA:
// (m / ||W + scaling B A||_row) (W + scaling B A)); the adapter tensors themselves are gone.
// `mofe export --merge-adapters` writes it; a compressed (NF4) base is what the source
// returns, i.e. already dequantised.
#pragma once

#include <map>
#include <memory>
#include <set>

#include "mofe/io/model_source.h"
#include "mofe/model/param_layout.h"

namespace mofe::peft {

class MergedSource : public io::ModelSource {
 public:
  explicit MergedSource(std::unique_ptr<io::ModelSource> src);
  const config::ModelConfig& config() const override { return src_->config(); }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override { return base_.count(name) > 0; }
  torch::Tensor load(const std::string& name) const override;
  std::string kind() const override { return src_->kind() + "+merged-adapters"; }
  const std::string& path() const override { return src_->path(); }
  std::string checksum() const override { return src_->checksum() + "+merged"; }
  std::string source_dtype() const override { return src_->source_dtype(); }

 private:
  std::unique_ptr<io::ModelSource> src_;
  std::set<std::string> base_;
  std::map<std::string, std::string> adapted_;  // base weight -> its module prefix
  bool dora_ = false;
  double scaling_ = 1.0;
};

}  // namespace mofe::peft
