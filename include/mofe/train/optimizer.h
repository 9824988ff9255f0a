// AdamW with decoupled weight decay over the trainable parameters only: frozen experts get no
// optimizer state. Two groups, as Hugging Face's Trainer does: matrices decay, 1-D parameters
// (norm weights) do not.
//
// Why not torch::optim::AdamW: LibTorch 1.13's AdamW runs ~7 separate tensor ops per
// parameter (plus a temporary the size of the parameter), i.e. ~7 passes over memory. On CPU
// the update is memory-bound, and in `full` mode it cost ~1 s of a 3 s step of the reference
// preset. This one makes a single fused pass per element (at::parallel_for over chunks) with
// the same arithmetic; on other devices it falls back to the equivalent tensor ops.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "mofe/config/train_config.h"
#include "mofe/train/param_groups.h"

namespace mofe::train {

struct AdamWHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

class AdamW {
 public:
  struct Group {
    std::vector<torch::Tensor> params;
    double weight_decay = 0;
  };
  struct State {  // per parameter, created on its first update
    torch::Tensor exp_avg, exp_avg_sq;
  };

  AdamW(std::vector<Group> groups, const AdamWHyper& hyper);
  void set_lr(double lr) { hyper_.lr = lr; }
  double lr() const { return hyper_.lr; }
  // One update of every parameter that has a gradient, read as grad_scale x the gradient (the
  // clip factor: the clip folds into this pass instead of one of its own).
  void step(double grad_scale = 1.0);
  // Drops the gradients (set to none: no memset; GradSync fills zeros where needed).
  void zero_grad();

  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t step) { step_ = step; }  // when restoring a checkpoint
  int64_t* steps_counter() { return &step_; }           // for the checkpoint's state view
  // The state of parameter `p` (nullptr when p is not optimised here); created empty if absent.
  State* state_of(const torch::Tensor& p);
  int64_t state_count() const;  // parameters holding optimizer state
  const std::vector<Group>& groups() const { return groups_; }
  std::vector<std::vector<State>>& state() { return state_; }  // [group][param]

 private:
  std::vector<Group> groups_;
  std::vector<std::vector<State>> state_;
  AdamWHyper hyper_;
  int64_t step_ = 0;
};

// Decay for matrices (adapters' A and B included), none for 1-D tensors (norms, DoRA's
// magnitudes), as peft's and HF Trainer's default parameter groups do.
std::unique_ptr<AdamW> make_optimizer(const ParamGroups& g, const config::TrainConfig& train);

}  // namespace mofe::train
