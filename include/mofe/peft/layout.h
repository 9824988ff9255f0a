// The adapters a model built with `build` carries, by name and shape, for every expert: what
// a PEFT checkpoint or a peft adapter file holds, known without building the model (dry runs,
// reading checkpoints back, checking an adapter file against a model).
#pragma once

#include <vector>

#include "mofe/config/model_config.h"
#include "mofe/model/param_layout.h"
#include "mofe/model/projection.h"

namespace mofe::peft {

// Local names and shapes of the tensors an adapter of `spec` registers on a projection of
// in -> out features (lora_A.weight [r, in], lora_B.weight [out, r], DoRA's
// lora_magnitude_vector [out]).
std::vector<std::pair<std::string, std::vector<int64_t>>> adapter_tensors(
    const model::AdapterSpec& spec, int64_t in, int64_t out);

// Adapter tensors of the whole model (roles kAdapter, base = the adapted weight's name; PERFT's
// with an empty base), the PERFT adapters' included.
std::vector<model::ParamSpec> adapter_layout(const config::ModelConfig& cfg,
                                             const model::BuildOptions& build);

// PERFT's tensors (moe/perft.h) for every MoE layer: perft.adapters.{j}.down.weight [D_B, D],
// .up.weight [D, D_B], perft.router.weight [N_a, D] (routed); empty without PERFT.
std::vector<model::ParamSpec> perft_layout(const config::ModelConfig& cfg,
                                           const model::PerftSpec& spec);

}  // namespace mofe::peft
