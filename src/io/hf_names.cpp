#include "mofe/io/hf_names.h"

#include <array>
#include <utility>

namespace mofe::io {

namespace {
constexpr std::array<std::pair<const char*, const char*>, 3> kExpertNames = {
    {{".gate_proj.", ".w1."}, {".down_proj.", ".w2."}, {".up_proj.", ".w3."}}};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  if (auto pos = s.rfind(from); pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}
}  // namespace

std::string to_hf_name(const std::string& name) {
  if (name.rfind("lm_head.", 0) == 0) return name;
  std::string hf = "model." + name;
  if (hf.find(".block_sparse_moe.experts.") != std::string::npos)
    for (const auto& [ours, theirs] : kExpertNames)
      if (hf.find(ours) != std::string::npos) return replace_once(hf, ours, theirs);
  return hf;
}

std::string from_hf_name(const std::string& hf) {
  if (ends_with(hf, "rotary_emb.inv_freq")) return "";
  if (hf.rfind("lm_head.", 0) == 0) return hf;
  if (hf.rfind("model.", 0) != 0) return "";
  std::string name = hf.substr(6);
  // The fused layout's router: layers.L.mlp.gate.weight (a dense MLP has gate_proj instead).
  if (const auto p = name.find(".mlp.gate.weight"); p != std::string::npos && p + 16 == name.size())
    return name.substr(0, p) + ".block_sparse_moe.gate.weight";
  if (name.find(".block_sparse_moe.experts.") != std::string::npos)
    for (const auto& [ours, theirs] : kExpertNames)
      if (name.find(theirs) != std::string::npos) return replace_once(name, theirs, ours);
  return name;
}

}  // namespace mofe::io
