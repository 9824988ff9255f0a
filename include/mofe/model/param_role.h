// Parameter roles: what each tensor of the model is, registered by the module that builds it
// (llm.c's ParameterTensors table, for a model whose shape is decided at run time).
//
//   kind     embedding | attention | norm | router | dense_mlp | expert | head | adapter
//   layer    decoder layer, -1 outside the layers (embeddings, final norm, head)
//   expert   global expert id for an expert FFN weight and for adapters on it, else -1
//   base     adapters only: the full name of the weight the adapter belongs to
//   base_kind adapters only: that weight's kind (a LoRA on an expert is an expert adapter)
//
// Everything that needs to know "what is this tensor" reads the role, never the name: the
// freeze policy of each mode (train/freeze_policy.h), parameter groups and gradient sync,
// clipping, the optimizer, checkpoints (which file a tensor goes to), parameter counts.
// Names stay Hugging Face's (layers.3.self_attn.q_proj.weight) for interchange only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace mofe::model {

enum class ParamKind {
  kEmbedding,
  kAttention,
  kNorm,
  kRouter,
  kDenseMlp,
  kExpert,
  kHead,
  kAdapter
};

// Which ranks hold a copy of the parameter, i.e. over which group its gradient is summed.
enum class GradSum {
  kWorld,           // replicated on every rank (everything that is not an expert's)
  kExpertReplicas,  // an expert's weight or adapter: its data-parallel replicas (the dp group)
};

struct ParamRole {
  ParamRole() = default;
  ParamRole(ParamKind k, int64_t layer_ = -1, int64_t expert_ = -1)  // NOLINT: {kind, layer}
      : kind(k), layer(layer_), expert(expert_) {}
  // The role of an adapter tensor on the weight `base_name` of role `base_role`.
  static ParamRole adapter_of(const ParamRole& base_role, std::string base_name) {
    ParamRole r(ParamKind::kAdapter, base_role.layer, base_role.expert);
    r.base = std::move(base_name);
    r.base_kind = base_role.kind;
    return r;
  }

  ParamKind kind = ParamKind::kNorm;
  int64_t layer = -1;
  int64_t expert = -1;
  std::string base;                        // adapters: full name of the adapted weight
  ParamKind base_kind = ParamKind::kNorm;  // adapters: kind of the adapted weight

  GradSum grad_sum() const { return expert >= 0 ? GradSum::kExpertReplicas : GradSum::kWorld; }
  bool is_adapter() const { return kind == ParamKind::kAdapter; }
  // The kind that decides policy: an adapter's base kind, or the parameter's own.
  ParamKind target_kind() const { return is_adapter() ? base_kind : kind; }
};

const char* to_string(ParamKind k);

}  // namespace mofe::model
