#include "mofe/train/loss_scale.h"

#include <algorithm>

namespace mofe::train {

LossScaler::LossScaler(double initial, bool dynamic, int64_t window)
    : enabled_(initial > 0), dynamic_(dynamic && initial > 0), window_(window) {
  state_ = {{"scale", enabled_ ? initial : 1.0}, {"good_steps", int64_t(0)}};
}

void LossScaler::update(bool finite) {
  if (!dynamic_) return;
  double s = state_["scale"];
  int64_t good = state_["good_steps"];
  if (!finite) {
    // Halved, but never below 2^-24 (the smallest fp16 subnormal): past it nothing is left
    // to find, and the bad-step limit ends the run.
    s = std::max(s * 0.5, 5.960464477539063e-08);
    good = 0;
  } else if (++good >= window_) {
    s *= 2.0;
    good = 0;
  }
  state_["scale"] = s;
  state_["good_steps"] = good;
}

}  // namespace mofe::train
