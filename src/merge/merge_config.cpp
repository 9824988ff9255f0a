#include "mofe/merge/merge_config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "mofe/core/error.h"

namespace mofe::merge {

namespace {

const std::set<std::string> kGateModes = {"hidden",           "hidden_avg", "hidden_last",
                                          "cheap_embed",      "random",     "uniform_random",
                                          "hidden_avg_masked"};

std::string resolve(const std::string& p, const std::filesystem::path& base) {
  if (p.empty() || std::filesystem::path(p).is_absolute() || !std::filesystem::exists(base / p))
    return p;
  return (base / p).lexically_normal().string();
}

std::vector<std::string> strings(const YAML::Node& n, const std::string& what) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) return {n.as<std::string>()};
  if (!n.IsSequence()) throw UsageError(what + " must be a list of strings");
  for (const auto& x : n) out.push_back(x.as<std::string>());
  return out;
}

void known_keys(const YAML::Node& n, const std::set<std::string>& keys, const std::string& where) {
  for (const auto& kv : n) {
    const auto k = kv.first.as<std::string>();
    if (!keys.count(k)) throw UsageError(where + ": unknown key '" + k + "'");
  }
}

}  // namespace

MergeConfig MergeConfig::load(const std::string& path) {
  MergeConfig c;
  const auto dir = std::filesystem::absolute(path).parent_path();
  try {
    const YAML::Node root = YAML::LoadFile(path);
    if (!root.IsMap()) throw UsageError("not a YAML mapping");
    // mergekit's other keys (tokenizer_source, architecture, ...) change nothing mofe does:
    // rejected rather than silently ignored.
    known_keys(root, {"base_model", "gate_mode", "dtype", "experts_per_token", "experts"},
               "top level");
    if (!root["base_model"]) throw UsageError("base_model is missing");
    c.base_model = resolve(root["base_model"].as<std::string>(), dir);
    if (root["gate_mode"]) c.gate_mode = root["gate_mode"].as<std::string>();
    if (root["dtype"]) c.dtype = root["dtype"].as<std::string>();
    if (root["experts_per_token"]) c.experts_per_token = root["experts_per_token"].as<int64_t>();
    const YAML::Node ex = root["experts"];
    if (!ex || !ex.IsSequence()) throw UsageError("experts must be a list");
    for (size_t i = 0; i < ex.size(); ++i) {
      const std::string where = "experts[" + std::to_string(i) + "]";
      known_keys(
          ex[i],
          {"source_model", "positive_prompts", "negative_prompts", "noise_scale", "residual_scale"},
          where);
      ExpertSpec e;
      if (!ex[i]["source_model"]) throw UsageError(where + ": source_model is missing");
      e.source_model = resolve(ex[i]["source_model"].as<std::string>(), dir);
      e.positive_prompts = strings(ex[i]["positive_prompts"], where + ".positive_prompts");
      e.negative_prompts = strings(ex[i]["negative_prompts"], where + ".negative_prompts");
      if (ex[i]["noise_scale"]) e.noise_scale = ex[i]["noise_scale"].as<double>();
      if (ex[i]["residual_scale"]) e.residual_scale = ex[i]["residual_scale"].as<double>();
      c.experts.push_back(std::move(e));
    }
  } catch (const YAML::Exception& e) {
    throw UsageError(path + ": " + e.what());
  } catch (const UsageError& e) {
    throw UsageError(path + ": " + e.what());
  }
  return c;
}

std::string MergeConfig::stored_dtype() const {
  std::string d = dtype.rfind("torch.", 0) == 0 ? dtype.substr(6) : dtype;
  return d == "bfloat16" ? "BF16" : d == "float16" ? "F16" : "F32";
}

bool MergeConfig::prompt_based() const {
  return gate_mode != "random" && gate_mode != "uniform_random";
}

void MergeConfig::validate(bool allow_identical_experts) const {
  if (!kGateModes.count(gate_mode))
    throw UsageError("gate_mode '" + gate_mode +
                     "' is unknown (hidden, hidden_avg, hidden_last, cheap_embed, random, "
                     "uniform_random, hidden_avg_masked)");
  if (experts.empty()) throw UsageError("experts: at least one expert is needed");
  {
    const std::string d = dtype.rfind("torch.", 0) == 0 ? dtype.substr(6) : dtype;
    if (!d.empty() && d != "bfloat16" && d != "float16" && d != "float32")
      throw UsageError("dtype '" + dtype +
                       "' is not one mergekit writes (bfloat16, float16, float32)");
  }
  for (size_t i = 0; i < experts.size(); ++i) {
    const auto& e = experts[i];
    const std::string where = "experts[" + std::to_string(i) + "] (" + e.source_model + ")";
    if (!(e.noise_scale >= 0) || !std::isfinite(e.noise_scale))
      throw UsageError(where + ": noise_scale " + std::to_string(e.noise_scale) +
                       " must be a finite number >= 0");
    if (e.residual_scale && (!(*e.residual_scale > 0) || !std::isfinite(*e.residual_scale)))
      throw UsageError(where + ": residual_scale " + std::to_string(*e.residual_scale) +
                       " must be a finite number > 0");
  }
  if (experts_per_token < 1 || experts_per_token > int64_t(experts.size()))
    throw UsageError("experts_per_token " + std::to_string(experts_per_token) +
                     " must be between 1 and the number of experts (" +
                     std::to_string(experts.size()) + ")");
  if (prompt_based()) {
    for (size_t i = 0; i < experts.size(); ++i)
      if (experts[i].positive_prompts.empty())
        throw UsageError("experts[" + std::to_string(i) + "] (" + experts[i].source_model +
                         "): gate_mode " + gate_mode + " needs positive_prompts");
    bool all_same = experts.size() > 1;
    for (const auto& e : experts)
      all_same = all_same && e.positive_prompts == experts[0].positive_prompts &&
                 e.negative_prompts == experts[0].negative_prompts;
    if (all_same)
      throw UsageError("every expert has the same prompts: the routers would not tell them apart");
  }
  bool same_model = experts.size() > 1;
  for (const auto& e : experts)
    same_model = same_model && e.source_model == experts[0].source_model;
  if (same_model && !allow_identical_experts)
    throw UsageError("every expert is the same model '" + experts[0].source_model +
                     "'; pass --allow-identical-experts if that is intended");
}

nlohmann::json MergeConfig::to_json() const {
  nlohmann::json j;
  j["base_model"] = base_model;
  j["gate_mode"] = gate_mode;
  j["dtype"] = dtype;
  j["experts_per_token"] = experts_per_token;
  for (const auto& e : experts) {
    nlohmann::json x = {{"source_model", e.source_model},
                        {"positive_prompts", e.positive_prompts},
                        {"negative_prompts", e.negative_prompts},
                        {"noise_scale", e.noise_scale}};
    if (e.residual_scale) x["residual_scale"] = *e.residual_scale;
    j["experts"].push_back(x);
  }
  return j;
}

}  // namespace mofe::merge
