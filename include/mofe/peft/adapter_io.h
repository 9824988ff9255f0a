// Hugging Face peft's adapter directory, read and written by mofe, so that an adapter trained
// here loads with PeftModel.from_pretrained onto the exported base model, and one trained with
// peft continues here:
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "lora_dropout",
//                               "target_modules": [HF module names], "use_dora", "use_rslora",
//                               "base_model_name_or_path", "bias": "none", "task_type":
//                               "CAUSAL_LM", "modules_to_save", ...}
//   adapter_model.safetensors  "base_model.model." + the HF name of each adapter tensor:
//                               ...layers.N.self_attn.q_proj.lora_A.weight [r, in],
//                               ...lora_B.weight [out, r], ...lora_magnitude_vector [out]
//                               (DoRA); Mixtral experts as experts.E.w1/w2/w3; trained
//                               routers/embeddings (modules_to_save) under their own names
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mofe/config/peft_config.h"
#include "mofe/config/train_config.h"
#include "mofe/io/model_source.h"
#include "mofe/model/param_layout.h"
#include "mofe/model/transformer.h"

namespace mofe::peft {

struct PeftAdapterConfig {
  std::string dir;
  int64_t r = 0;
  double lora_alpha = 0, lora_dropout = 0;
  std::vector<std::string> target_modules;
  std::vector<std::string> modules_to_save;
  bool use_dora = false, use_rslora = false;
  std::string base_model;
};

// Reads DIR/adapter_config.json; UsageError naming the file and field for what mofe cannot
// load (another peft_type, a target_modules regex, biases, fan_in_fan_out).
PeftAdapterConfig read_adapter_config(const std::string& dir);

// Takes the adapter's settings into the run: r, alpha, dropout, targets, rsLoRA, DoRA
// (--mode lora <-> dora), trained routers/embeddings. A setting given explicitly that
// contradicts the adapter is a UsageError naming both values; `explicit_options` lists the
// option names the user set.
void adopt_adapter_config(const PeftAdapterConfig& a, config::PeftConfig& peft,
                          config::TrainMode& mode,
                          const std::vector<std::string>& explicit_options);

// The adapter file's tensors against what a model of `cfg` built with `build` carries: every
// adapter tensor present with its shape, nothing else. UsageError naming the file and tensor.
void check_adapter_file(const std::string& dir, const config::ModelConfig& cfg,
                        const model::BuildOptions& build);

// Loads the adapter tensors (and modules_to_save) this rank's model holds.
void load_adapter(const std::string& dir, model::TransformerImpl& model);

// The peft name of a mofe tensor name and back.
std::string to_peft_name(const std::string& mofe_name);
std::string from_peft_name(const std::string& peft_name);  // "" when not a peft tensor name

// Writes an adapter directory from a source holding the adapter tensors (a PEFT checkpoint):
// `adapters` is their layout (peft/layout.h), `peft` and `dora` the settings they were trained
// with; trained routers/embeddings go in as modules_to_save. The caller stages DIR
// (io/staged_dir.h) when it must appear whole or not at all.
void write_adapter(const std::string& dir, const io::ModelSource& src,
                   const std::vector<model::ParamSpec>& adapters, const config::PeftConfig& peft,
                   bool dora, const std::string& base_model_name_or_path);

// DIR/weights_file: the tensors `names` of `src` in float32 (float64 stays float64), each
// stored as stored_name(name); DIR/config_file: `config`. What peft's adapter directory and
// PERFT's (peft/perft_io.h) are made of.
void write_adapter_files(const std::string& dir, const std::string& weights_file,
                         const std::string& config_file, const io::ModelSource& src,
                         const std::vector<std::string>& names,
                         const std::function<std::string(const std::string&)>& stored_name,
                         const nlohmann::json& config);

}  // namespace mofe::peft
