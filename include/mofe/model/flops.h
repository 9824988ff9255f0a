// Model FLOPs of one training step, counted from the config (matmuls only; elementwise work is
// not counted, as in the usual MFU definition). Split into forward, input-gradient and
// weight-gradient work so that what each mode skips is visible: frozen experts still need
// input gradients (to reach the attention below them) but no weight gradients; in the PEFT
// modes no base weight has a gradient, adapters add their own small matmuls, and (embeddings
// frozen) the first layer's q/k/v need no input gradient at all.
//
// Per projection of in -> out features over R rows (R = T, or T*K rows over all experts):
//   forward 2 R in out;  input gradient 2 R in out (if its input needs one);
//   weight gradient 2 R in out (if it trains)
// A rank-r adapter adds 2 R r (in + out) to each of the three (its input gradient only where
// the projection's input needs one); DoRA adds the 2 out r in of B A for the weight norm.
// Attention scores are counted over the full S x S square, as the kernel computes them.
// --recompute (train.recompute_level()) adds the recomputed blocks' forward work to
// StepFlops::recompute.
#pragma once

#include <cstdint>

#include "mofe/config/model_config.h"
#include "mofe/config/peft_config.h"
#include "mofe/config/train_config.h"

namespace mofe::model {

struct StepFlops {
  double forward = 0;
  double input_grad = 0;
  double weight_grad = 0;
  double expert_weight_grad_skipped = 0;  // weight-gradient work of frozen experts (not done)
  double adapter = 0;                     // the adapters' share of the three (PEFT modes)
  // Forward work run again in backward under --recompute (the attention block, the
  // feed-forward block or both, per layer; adapters inside them included). Model FLOPs (MFU)
  // leave it out, as usual; what the machine executes includes it.
  double recompute = 0;
  double total() const { return forward + input_grad + weight_grad; }
  double executed() const { return total() + recompute; }
};

// `tokens`: tokens processed (per rank or global, the result scales with it).
StepFlops step_flops(const config::ModelConfig& cfg, const config::TrainConfig& train,
                     int64_t tokens, int64_t seq_len, const config::PeftConfig& peft = {});

}  // namespace mofe::model
