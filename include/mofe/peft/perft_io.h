// PERFT adapters as files of their own (moe/perft.h): PERFT-R/S/D adapters sit beside the MoE
// block and fold into no weight, so an export writes them next to the base model:
//   perft_config.json          {"format": "mofe-perft", "version": 1, "variant": "perft-r",
//                               "adapters" N_a, "top_k", "rank" D_B, "adapter": lora|parallel,
//                               "act", "aux_coef", "hidden_size", "num_hidden_layers",
//                               "num_local_experts", "tensors": {name: shape},
//                               "base_model_name_or_path"}
//   perft_adapters.safetensors "model.layers.N.block_sparse_moe.perft.adapters.J.down.weight"
//                               [D_B, D], ".up.weight" [D, D_B], "...perft.router.weight"
//                               [N_a, D] (the base model's own naming, float32)
// `mofe eval --model BASE --adapter DIR` takes either this or a peft adapter directory.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mofe/config/model_config.h"
#include "mofe/io/model_source.h"
#include "mofe/model/param_layout.h"
#include "mofe/model/transformer.h"

namespace mofe::peft {

// Whether DIR holds PERFT adapters (a perft_config.json).
bool is_perft_dir(const std::string& dir);

// The adapters description (io::ModelSource::adapters(): {"mode", "peft"}) of DIR, checked
// against the model `cfg`: the variant, shapes and every tensor of the file. UsageError naming
// the file and field or tensor otherwise.
nlohmann::json read_perft_dir(const std::string& dir, const config::ModelConfig& cfg);

// Loads DIR's adapters into the model (every PERFT tensor this rank holds).
void load_perft(const std::string& dir, model::TransformerImpl& model);

// Writes DIR from a source that holds PERFT adapters (a PERFT checkpoint); `adapters` is the
// source's adapters() description.
void write_perft(const std::string& dir, const io::ModelSource& src, const nlohmann::json& adapters,
                 const std::string& base_model_name_or_path);

}  // namespace mofe::peft
