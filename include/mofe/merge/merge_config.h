// MergeConfig: a mergekit-moe YAML file, read with yaml-cpp, checked as mergekit checks it.
//   base_model: path                # embeddings, attention, norms, head
//   gate_mode: hidden               # hidden | hidden_avg | hidden_last | cheap_embed | random
//                                   # | uniform_random | hidden_avg_masked (mofe's extra)
//   dtype: bfloat16                 # bfloat16 | float16 | float32 (also torch.*): the merged
//                                   # model's tensors are stored in it; absent: float32
//   experts_per_token: 2
//   experts:
//     - source_model: path          # gives its MLP
//       positive_prompts: ["..."]
//       negative_prompts: ["..."]   # optional
//       noise_scale: 0.0            # optional, finite >= 0: N(0, s) added to the expert's
//                                   # weights (seeded)
//       residual_scale: 1.0         # optional, finite > 0: scales the expert's down_proj
// Paths are taken relative to the YAML file's directory when not absolute.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mofe::merge {

struct ExpertSpec {
  std::string source_model;
  std::vector<std::string> positive_prompts, negative_prompts;
  double noise_scale = 0.0;
  std::optional<double> residual_scale;
};

struct MergeConfig {
  std::string base_model;
  std::string gate_mode = "hidden";
  std::string dtype;  // "" (float32), bfloat16, float16, float32
  int64_t experts_per_token = 2;
  std::vector<ExpertSpec> experts;

  // UsageError "<file>: <what>" for YAML errors, unknown keys and what mergekit rejects.
  static MergeConfig load(const std::string& path);
  // What mergekit rejects; `allow_identical_experts` lets every expert be the same model.
  void validate(bool allow_identical_experts) const;
  bool prompt_based() const;         // the gate mode reads prompts
  std::string stored_dtype() const;  // BF16 | F16 | F32
  nlohmann::json to_json() const;
};

}  // namespace mofe::merge
