// The training policy of each mode, decided by role alone: which parameters train, how the
// frozen ones are stored, which projections carry an adapter.
//   mofe        everything but the expert FFNs (the paper's method)
//   full        everything, except the experts named by --freeze-experts (Appendix A)
//   lora/dora/qlora  the adapters only, as peft freezes the base model; --train-router and
//               --train-embeddings also train the routers / embed_tokens and lm_head
// and, from it, how the model is built: frozen projection weights stored in
// --frozen-dtype (nf4 under qlora), adapters on the --lora-targets projections.
#pragma once

#include <nlohmann/json.hpp>

#include "mofe/config/peft_config.h"
#include "mofe/config/train_config.h"
#include "mofe/model/param_role.h"
#include "mofe/model/projection.h"

namespace mofe::peft {

bool trainable(const model::ParamRole& role, const config::TrainConfig& train,
               const config::PeftConfig& peft);

// BuildOptions for a model trained with these settings, computing in `dtype` (adapters made
// by peft::make_adapter).
model::BuildOptions build_options(const config::TrainConfig& train, const config::PeftConfig& peft,
                                  torch::ScalarType dtype);

// For evaluation and export: the adapters a source holds (io::ModelSource::adapters()), every
// weight an ordinary parameter (a compressed base is already dequantised by the source).
model::BuildOptions inference_options(const nlohmann::json& adapters, torch::ScalarType dtype);

}  // namespace mofe::peft
