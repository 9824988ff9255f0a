// Loss scaling, for fp16 (--precision fp16-mixed) and on request for any precision
// (--loss-scale): the loss is multiplied by `scale` before backward, so that small gradients
// do not flush to zero in 16 bits, and the summed gradients are divided by it before clipping.
// Dynamic (torch.cuda.amp.GradScaler's rule): start at 2^16; a step whose gradients are not
// finite is skipped and the scale halved; after `window` good steps in a row it doubles.
// The decision uses the global gradient norm, which every rank computes identically, so all
// ranks skip the same steps and hold the same scale (no extra collective).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

namespace mofe::train {

class LossScaler {
 public:
  // initial <= 0: no scaling (scale() is 1, update() does nothing).
  LossScaler(double initial, bool dynamic, int64_t window);

  bool enabled() const { return enabled_; }
  bool dynamic() const { return dynamic_; }
  double scale() const { return enabled_ ? double(state_["scale"]) : 1.0; }
  // After a step whose global gradients were (not) finite: halve or count towards doubling.
  void update(bool finite);
  // {"scale", "good_steps"}: what a checkpoint saves (TrainState::loss_scaler).
  nlohmann::json* state() { return enabled_ ? &state_ : nullptr; }

 private:
  bool enabled_, dynamic_;
  int64_t window_;
  nlohmann::json state_;
};

}  // namespace mofe::train
