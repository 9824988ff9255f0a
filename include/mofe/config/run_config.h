// RunConfig: every setting of one run, typed. The only object main() hands down; components
// take their slice (ModelConfig, ParallelConfig, TrainConfig, ...), never the option map.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "mofe/config/checkpoint_config.h"
#include "mofe/config/data_config.h"
#include "mofe/config/model_config.h"
#include "mofe/config/parallel_config.h"
#include "mofe/config/peft_config.h"
#include "mofe/config/runtime_config.h"
#include "mofe/config/train_config.h"

namespace mofe::config {

struct RunConfig {
  ModelConfig model;
  ParallelConfig parallel;
  TrainConfig train;
  PeftConfig peft;
  DataConfig data;
  RuntimeConfig runtime;
  CheckpointConfig checkpoint;

  // Every cross-field rule in one place; resolves dp_size. Throws UsageError.
  void validate(int world_size);
  nlohmann::json to_json() const;  // the resolved config, written next to metrics
};

}  // namespace mofe::config
