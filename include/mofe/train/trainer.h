// Trainer: the training loop, read top to bottom in train_step():
//   zero grads -> count global loss tokens -> for each micro-batch: forward, loss / global
//   tokens (+ aux), backward -> sum gradients (GradSync) -> clip (global norm) -> lr -> AdamW
// The loss is normalised by the global number of loss tokens before backward, so gradients
// summed over ranks equal the single-process gradient of the whole global batch, whatever the
// layout (the equivalence tests rely on it).
#pragma once

#include <chrono>

#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "mofe/ckpt/train_state.h"
#include "mofe/config/run_config.h"
#include "mofe/data/batch.h"
#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/model/transformer.h"
#include "mofe/train/grad_sync.h"
#include "mofe/train/loss_scale.h"
#include "mofe/train/metrics.h"
#include "mofe/train/optimizer.h"
#include "mofe/train/param_groups.h"
#include "mofe/train/run_lock.h"

namespace mofe::train {

class Trainer {
 public:
  Trainer(const config::RunConfig& cfg, const dist::ProcessGroups& groups,
          dist::CommBackend& backend, torch::Device device);

  // One optimizer step over grad_accum micro-batches of this rank. `step` is 0-based.
  StepStats train_step(const std::vector<data::Batch>& micro_batches, int64_t step);

  // Forward + backward + gradient sync only (no clip, no update): for tests and benchmarks.
  // Under loss scaling the gradients are left scaled (train_step's clip divides them).
  // Returns {loss, aux} over the global batch; optionally the per-layer expert counts and the
  // tokens processed over all ranks (padding included).
  std::pair<double, double> forward_backward(const std::vector<data::Batch>& micro_batches,
                                             std::vector<std::vector<int64_t>>* rows = nullptr,
                                             int64_t* global_input_tokens = nullptr);

  // The whole run on the configured data: resume, loop, log, checkpoint. Stops early (and says
  // so in the result) when a stop signal arrives; the checkpoint is then written first.
  struct RunResult {
    StepStats last;
    bool stopped = false;  // by a signal: resumable (exit code kExitResumable)
  };
  RunResult run();

  model::Transformer& model() { return model_; }
  ParamGroups& params() { return params_; }
  // The view checkpoints save and restore: trainable tensors with their moments (and, with
  // `with_frozen`, this rank's frozen weights: parameters as they are, compressed ones
  // dequantised), the optimizer's step count, where the frozen weights come from.
  ckpt::TrainState train_state(bool with_frozen = false);
  AdamW& optimizer() { return *optimizer_; }
  const torch::Device& device() const { return device_; }
  const nlohmann::json& init_source() const { return init_source_; }
  torch::ScalarType dtype() const { return dtype_; }  // of the parameters (the masters)
  torch::ScalarType compute_dtype() const { return compute_dtype_; }
  LossScaler& loss_scaler() { return scaler_; }
  // Synchronise the device at each phase boundary, so that StepStats::phases are exact on a
  // GPU (costs the overlap of queued work; the CPU needs nothing).
  void time_phases(bool on) { time_phases_ = on; }

 private:
  config::RunConfig cfg_;
  const dist::ProcessGroups& groups_;
  dist::CommBackend& backend_;
  torch::Device device_;
  torch::ScalarType dtype_, compute_dtype_;
  model::Transformer model_{nullptr};
  ParamGroups params_;
  std::unique_ptr<AdamW> optimizer_;
  GradSync grad_sync_;
  LossScaler scaler_;
  bool inject_nan_ = false, inject_inf_ = false;
  bool time_phases_ = false;
  StepPhases phases_;  // of the step in progress
  // Adds the time since the last call to `slot` (the first call of a step only marks).
  void lap(double* slot);
  std::chrono::steady_clock::time_point last_lap_;
  int64_t samples_ = 0;         // global training samples consumed by the steps done
  nlohmann::json init_source_;  // {"source": "init", "seed"} | {"source": "model", "path", ...}  //
                                // test-only fault injection (core/fault.h)
};

// Rank 0's locks of the run directory and the checkpoint directory (when it lies elsewhere),
// taken before any work (UsageError naming the holder), after which what a killed run left
// unpublished in the checkpoint directory is removed. Hold them for the whole run.
std::vector<std::unique_ptr<RunLock>> lock_run(const config::RunConfig& cfg);

// Where a run's weights come from, as checkpoints record it: {"source": "init", "seed"} or
// {"source": "model", "path", "kind", "checksum"}.
nlohmann::json weight_source(const config::RunConfig& cfg);

// Prints parameter counts (this rank and the whole model) on rank 0: the mode, trainable and
// frozen parameters, and frozen bytes by storage.
void report_parameters(const config::RunConfig& cfg, const model::ParamTable& table,
                       const dist::ProcessGroups& groups);

}  // namespace mofe::train
