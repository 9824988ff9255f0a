// eval::run: the whole of `mofe eval` after its options are parsed. Several tasks per run,
// one model load, one table, one results file (lm-evaluation-harness v0.4 shape), and the
// harness's per-sample lines when asked.
//   open_inputs   everything that can be wrong with the input, before any work: tasks and
//                 their layouts, the few-shot pools, the model, the tokenizer, --max-length,
//                 outputs that must be writable. Throws UsageError / InputError.
//   run           collective over the world: documents dealt over the ranks, experts over the
//                 EP group as in training; rank 0 writes the outputs.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "mofe/data/tokenizer.h"
#include "mofe/dist/mpi_env.h"
#include "mofe/eval/eval_config.h"
#include "mofe/eval/task.h"
#include "mofe/io/model_source.h"

namespace mofe::eval {

struct EvalInputs {
  std::vector<Task> tasks;  // as cfg.tasks
  std::unique_ptr<io::ModelSource> model;
  std::unique_ptr<data::Tokenizer> tokenizer;
  nlohmann::json adapters;  // what the model carries besides its base weights
  torch::Device device{torch::kCPU};
};

// cfg.parallel is resolved and cfg.tokenizer filled in (the model's, when not given).
EvalInputs open_inputs(EvalConfig& cfg, const dist::MpiEnv& env);

// 0 on success.
int run(const EvalConfig& cfg, EvalInputs& in, dist::MpiEnv& env);

// The harness's sha256 hex digest of a string (doc_hash, prompt_hash, target_hash).
std::string sha256_hex(const std::string& s);

}  // namespace mofe::eval
