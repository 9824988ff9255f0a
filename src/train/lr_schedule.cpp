#include "mofe/train/lr_schedule.h"

#include <algorithm>

namespace mofe::train {

double learning_rate(const config::TrainConfig& t, int64_t step) {
  if (step < t.warmup_steps) return t.lr * double(step + 1) / double(t.warmup_steps);
  const int64_t decay_steps = std::max<int64_t>(1, t.steps - t.warmup_steps);
  const double progress = std::min(1.0, double(step - t.warmup_steps) / double(decay_steps));
  return t.lr + (t.min_lr - t.lr) * progress;
}

}  // namespace mofe::train
