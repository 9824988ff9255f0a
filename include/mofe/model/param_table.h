// ParamTable: every tensor of this rank's model with its role (model/param_role.h), in
// registration order. Modules declare the roles of what they register when they are built
// (HasRoles); TransformerImpl walks its module tree once and prefixes the local names, and the
// walk refuses a parameter nobody declared. Frozen weights held compressed
// (quant/frozen_weight.h) are entries too, though they are not torch parameters: they are
// counted, loaded and exported like any other weight.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mofe/model/param_role.h"
#include "mofe/quant/frozen_weight.h"

namespace mofe::model {

struct ParamEntry {
  std::string
      name;  // full name, Hugging Face's without "model." (layers.3.self_attn.q_proj.weight)
  ParamRole role;
  torch::Tensor param;                          // the registered parameter, or undefined:
  std::shared_ptr<quant::FrozenWeight> frozen;  // a frozen weight stored compressed

  std::vector<int64_t> shape() const;
  int64_t numel() const;
  int64_t bytes() const;        // as stored
  std::string storage() const;  // float32 | float64 | bf16 | nf4
  bool trainable() const { return param.defined() && param.requires_grad(); }
  // The value in the compute dtype (a dequantised copy for a compressed weight).
  torch::Tensor value() const;
  // Sets the value (copied into the parameter, or converted/quantised into the store).
  void assign(const torch::Tensor& v) const;
};

class ParamTable {
 public:
  void add(ParamEntry e);
  const std::vector<ParamEntry>& entries() const { return entries_; }
  const ParamEntry* find(const std::string& name) const;
  const ParamEntry& at(const std::string& name) const;  // throws naming the parameter
  size_t size() const { return entries_.size(); }

 private:
  std::vector<ParamEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// Mixin for modules that register parameters (or compressed weights): each declares the role
// of what it holds, by its local name ("weight", "lora_A.weight"). A local name may reach into
// a plain LibTorch child ("embed_tokens.weight" declared by the Transformer).
class HasRoles {
 public:
  virtual ~HasRoles() = default;
  struct Declared {
    std::string local;
    ParamRole role;
    std::shared_ptr<quant::FrozenWeight> frozen;  // set for a compressed weight
  };
  const std::vector<Declared>& declared_roles() const { return declared_; }

 protected:
  void declare(std::string local, ParamRole role,
               std::shared_ptr<quant::FrozenWeight> frozen = nullptr) {
    declared_.push_back({std::move(local), std::move(role), std::move(frozen)});
  }
  void declare_adapter_roles(const std::vector<std::string>& locals, const ParamRole& base,
                             const std::string& base_local);

 private:
  std::vector<Declared> declared_;
};

// Walks `root` (named_modules) and collects every declared role under its full name; an
// adapter's `base` is prefixed the same way. Throws when a registered parameter has no role.
ParamTable collect_param_table(torch::nn::Module& root);

}  // namespace mofe::model
