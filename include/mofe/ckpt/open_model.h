// open_model: one entry point for "a model" wherever mofe takes one. Accepts
//   a Hugging Face directory      config.json + *.safetensors (Llama or Mixtral)
//   a mofe model directory        model.json (from `mofe import` / `mofe merge`)
//   a mofe checkpoint             step_X/ with state.json, a checkpoints/ directory (its
//                                 `latest`), or a run directory (its checkpoints/latest)
// A checkpoint that does not store its frozen experts (mofe mode) takes them from where
// state.json says they came from: the model it was trained from (checksum verified) or the
// seeded initialisation.
#pragma once

#include <memory>
#include <string>

#include "mofe/io/model_source.h"

namespace mofe::ckpt {

// UsageError when `path` is none of the above; IoError when it is one but damaged.
std::unique_ptr<io::ModelSource> open_model(const std::string& path);

// The tokenizer.model that goes with a model: in its directory or a parent, or (a checkpoint)
// the one its run trained with (the run's config.json). "" when none is found.
std::string find_tokenizer(const std::string& model_path);

// The base model a checkpoint's frozen weights come from (its --model path), or "" when they
// come from the seeded initialisation or `model` is not a checkpoint.
std::string base_model_path(const std::string& model);

}  // namespace mofe::ckpt
