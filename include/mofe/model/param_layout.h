// The whole model's parameters, by name and shape, for a config: what a complete model file,
// import or export must hold, tensor for tensor (no rank's partial view; every expert).
// Names follow Hugging Face without the "model." prefix (see transformer.h). Each spec
// carries the role the built model registers for it (model/param_role.h) and, for a
// projection, its leaf module name ("q_proj", "gate_proj", "gate", "lm_head").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mofe/config/model_config.h"
#include "mofe/model/param_role.h"

namespace mofe::model {

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  int64_t layer = -1;   // -1: not in a layer
  int64_t expert = -1;  // -1: not an expert FFN weight
  ParamRole role;
  std::string leaf;  // projections: the module's name; "" otherwise
};

std::vector<ParamSpec> param_layout(const config::ModelConfig& cfg);

}  // namespace mofe::model
