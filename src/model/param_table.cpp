#include "mofe/model/param_table.h"

#include <map>
#include <set>

#include "mofe/core/error.h"

namespace mofe::model {

const char* to_string(ParamKind k) {
  switch (k) {
    case ParamKind::kEmbedding:
      return "embedding";
    case ParamKind::kAttention:
      return "attention";
    case ParamKind::kNorm:
      return "norm";
    case ParamKind::kRouter:
      return "router";
    case ParamKind::kDenseMlp:
      return "dense_mlp";
    case ParamKind::kExpert:
      return "expert";
    case ParamKind::kHead:
      return "head";
    case ParamKind::kAdapter:
      return "adapter";
  }
  return "?";
}

std::vector<int64_t> ParamEntry::shape() const {
  return param.defined() ? param.sizes().vec() : frozen->shape();
}

int64_t ParamEntry::numel() const { return param.defined() ? param.numel() : frozen->numel(); }

int64_t ParamEntry::bytes() const {
  return param.defined() ? param.numel() * int64_t(param.element_size()) : frozen->bytes();
}

std::string ParamEntry::storage() const {
  if (!param.defined()) return quant::to_string(frozen->storage());
  switch (param.scalar_type()) {
    case torch::kFloat:
      return "float32";
    case torch::kDouble:
      return "float64";
    case torch::kBFloat16:
      return "bf16";
    case torch::kHalf:
      return "float16";
    default:
      return c10::toString(param.scalar_type());
  }
}

torch::Tensor ParamEntry::value() const {
  return param.defined() ? param.detach() : frozen->dequantize();
}

void ParamEntry::assign(const torch::Tensor& v) const {
  torch::NoGradGuard no_grad;
  if (param.defined())
    param.copy_(v);
  else
    frozen->assign(v);
}

void ParamTable::add(ParamEntry e) {
  if (!index_.emplace(e.name, entries_.size()).second)
    throw Error("parameter '" + e.name + "' declared twice");
  entries_.push_back(std::move(e));
}

const ParamEntry* ParamTable::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const ParamEntry& ParamTable::at(const std::string& name) const {
  if (const auto* e = find(name)) return *e;
  throw Error("model has no parameter '" + name + "'");
}

void HasRoles::declare_adapter_roles(const std::vector<std::string>& locals, const ParamRole& base,
                                     const std::string& base_local) {
  for (const auto& l : locals) declare(l, ParamRole::adapter_of(base, base_local));
}

ParamTable collect_param_table(torch::nn::Module& root) {
  std::vector<ParamEntry> table;
  std::set<std::string> declared;
  // The root itself first (it may still be under construction, so not through a shared_ptr),
  // then every descendant in registration order.
  std::vector<std::pair<std::string, const torch::nn::Module*>> modules{{"", &root}};
  for (const auto& item : root.named_modules(/*name_prefix=*/"", /*include_self=*/false))
    modules.emplace_back(item.key(), item.value().get());
  for (const auto& [key, module] : modules) {
    const auto* holder = dynamic_cast<const HasRoles*>(module);
    if (!holder) continue;
    const std::string prefix = key.empty() ? "" : key + ".";
    for (const auto& d : holder->declared_roles()) {
      ParamEntry e;
      e.name = prefix + d.local;
      e.role = d.role;
      if (e.role.is_adapter() && !e.role.base.empty()) e.role.base = prefix + e.role.base;
      e.frozen = d.frozen;
      declared.insert(e.name);
      table.push_back(std::move(e));
    }
  }
  // Attach the registered tensors, in the order of declaration; every parameter needs a role.
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : root.named_parameters()) {
    if (!declared.count(p.key()))
      throw Error("parameter '" + p.key() + "' was registered without a role");
    params[p.key()] = p.value();
  }
  ParamTable out;
  for (auto& e : table) {
    if (!e.frozen) {
      auto it = params.find(e.name);
      if (it == params.end()) throw Error("role declared for '" + e.name + "', no such parameter");
      e.param = it->second;
    }
    out.add(std::move(e));
  }
  return out;
}

}  // namespace mofe::model
