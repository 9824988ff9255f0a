// What `mofe eval` runs: the model, the tasks with their data, the harness's selection rules,
// outputs, and the layout (eval/run.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mofe/config/parallel_config.h"
#include "mofe/config/runtime_config.h"

namespace mofe::eval {

struct TaskSpec {
  std::string name;          // mmlu | medmcqa | pubmedqa | sujet-finance | mcq
  std::string data;          // its --data
  std::string fewshot_data;  // its few-shot pool ("" = the task's own dev split, if any)
};

struct EvalConfig {
  std::string model, adapter, tokenizer;
  std::vector<TaskSpec> tasks;
  int num_fewshot = 0;
  double limit = 0;            // 0: all; >= 1: the first N per subtask; (0, 1): that fraction
  std::string output;          // results JSON (harness v0.4 shape); "" = none
  bool log_samples = false;    // samples_<subtask>_<date>.jsonl beside `output`
  std::string routing_report;  // CSV; "" = none
  bool no_bos = false;
  bool share_context = true;  // one forward pass per question (eval/scorer.h)
  int64_t batch_tokens = 8192;
  int64_t max_length = 0;  // 0: the model's max_position_embeddings
  config::ParallelConfig parallel;
  config::RuntimeConfig runtime;
};

}  // namespace mofe::eval
