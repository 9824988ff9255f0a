#include "mofe/io/seeded_model.h"

#include "mofe/core/error.h"
#include "mofe/model/param_layout.h"
#include "mofe/model/transformer.h"

namespace mofe::io {

SeededModel::SeededModel(const config::ModelConfig& cfg, uint64_t seed, torch::ScalarType dtype,
                         double norm_jitter, std::string path)
    : cfg_(cfg), seed_(seed), dtype_(dtype), norm_jitter_(norm_jitter), path_(std::move(path)) {
  for (const auto& s : model::param_layout(cfg)) shapes_[s.name] = s.shape;
}

std::vector<std::string> SeededModel::names() const {
  std::vector<std::string> out;
  for (const auto& kv : shapes_) out.push_back(kv.first);
  return out;
}

torch::Tensor SeededModel::load(const std::string& name) const {
  auto it = shapes_.find(name);
  if (it == shapes_.end()) throw IoError("seeded model has no tensor '" + name + "'");
  auto t = model::init_parameter(name, it->second, seed_);
  if (norm_jitter_ > 0 && name.find("norm.weight") != std::string::npos)
    t = t + norm_jitter_ * model::init_parameter(name + "#jitter", it->second, seed_) / 0.02;
  return t.to(dtype_);
}

std::string SeededModel::source_dtype() const {
  return dtype_ == torch::kFloat64 ? "F64" : dtype_ == torch::kBFloat16 ? "BF16" : "F32";
}

}  // namespace mofe::io
