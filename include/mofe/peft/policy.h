// The training policy of each mode, decided by role alone: which parameters train, how the
// frozen ones are stored, which projections carry an adapter.
//   mofe        everything but the expert FFNs (the paper's method)
//   full        everything, except the experts named by --freeze-experts (Appendix A) and the
//               parts --train-parts leaves out
//   lora/dora/qlora  the adapters only, as peft freezes the base model; --train-router and
//               --train-embeddings also train the routers / embed_tokens and lm_head
//   perft-r/e/s/d    the PERFT adapters (and adapter router) only: the whole MoE is frozen
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

// The PERFT adapters of `mode` on model `m` (none outside the PERFT modes).
model::PerftSpec perft_spec(config::TrainMode mode, const config::PeftConfig& peft,
                            const config::ModelConfig& m);

// BuildOptions for a model `m` trained with these settings, computing in `dtype` (adapters
// made by peft::make_adapter, PERFT adapters from perft_spec).
model::BuildOptions build_options(const config::TrainConfig& train, const config::PeftConfig& peft,
                                  const config::ModelConfig& m, torch::ScalarType dtype);

// For evaluation and export: the adapters a source holds (io::ModelSource::adapters()), every
// weight an ordinary parameter (a compressed base is already dequantised by the source).
model::BuildOptions inference_options(const nlohmann::json& adapters, const config::ModelConfig& m,
                                      torch::ScalarType dtype);

}  // namespace mofe::peft
