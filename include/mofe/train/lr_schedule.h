// Learning-rate schedule: linear warm-up to the peak, then linear decay to min_lr at the last
// step. A pure function of the step, so a resumed run needs only the step to continue.
#pragma once

#include <cstdint>

#include "mofe/config/train_config.h"

namespace mofe::train {

double learning_rate(const config::TrainConfig& train, int64_t step);  // step in [0, steps)

}  // namespace mofe::train
