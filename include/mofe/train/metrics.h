// Metrics: the progress line on stdout and the same values as JSON lines in a file (rank 0).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace mofe::train {

// Wall time of each part of one optimizer step (summed over its micro-steps): where a step's
// time goes, for `mofe bench` (#16). On a GPU the parts are exact only when the trainer
// synchronises at each boundary (Trainer::time_phases), which the bench asks for.
struct StepPhases {
  double zero_s = 0;       // dropping the previous step's gradients
  double forward_s = 0;    // forward passes and losses
  double backward_s = 0;   // autograd: input and weight gradients, expert exchange in reverse
  double sync_s = 0;       // gradient all-reduces (and the loss/token reductions)
  double clip_s = 0;       // global norm and clipping
  double optimizer_s = 0;  // the AdamW update (and its state's first allocation)
};

struct StepStats {
  int64_t step = 0;     // 1-based count of optimizer steps done
  double loss = 0;      // mean LM loss over the global batch (all ranks, micro-steps)
  double aux_loss = 0;  // load-balancing loss (global, mean over MoE layers)
  double lr = 0;
  double grad_norm = 0;  // before clipping
  double step_time_s = 0;
  bool skipped = false;   // non-finite loss or gradients: no update was made
  bool overflow = false;  // skipped because a dynamic loss scale overflowed (scale halved)
  double loss_scale = 0;  // the loss scale the step ran with; 0 when the run scales no loss
  int64_t tokens = 0;     // loss tokens in the global batch
  std::vector<std::vector<int64_t>> rows_per_expert;  // [layer][E], global, summed over micro-steps
  StepPhases phases;
};

class MetricsLogger {
 public:
  // Only rank 0 writes; other ranks construct a silent logger.
  // start_step: the step a resumed run starts from (time left counts only steps done here).
  // mode: the training mode, first on every progress line and in every JSON line.
  MetricsLogger(bool active, const std::string& path, int64_t total_steps, int64_t start_step = 0,
                std::string mode = "mofe");
  void log(const StepStats& s, bool print_line);

 private:
  bool active_;
  std::ofstream out_;
  int64_t total_steps_, start_step_;
  std::string mode_;
  double elapsed_s_ = 0;
};

// "max/mean" load of the busiest expert over all layers: 1.0 is perfectly balanced.
double max_expert_load(const std::vector<std::vector<int64_t>>& rows_per_expert);

}  // namespace mofe::train
