// Global gradient-norm clipping across ranks. After GradSync every dense gradient is identical
// on all ranks and every expert gradient identical on its dp replicas, so the global squared
// norm is: dense (local) + sum over the EP group of the local experts' squares - each expert
// counted exactly once.
#pragma once

#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/train/param_groups.h"

namespace mofe::train {

double global_grad_norm(const ParamGroups& g, const dist::ProcessGroups& groups,
                        dist::CommBackend& backend);

// Global-norm clipping without a pass of its own: the norm of the true gradient and the factor
// every gradient is to be multiplied by, min(1, max_norm / norm) / loss_scale, which the
// optimizer applies as it reads each gradient (AdamW::step(grad_scale)). loss_scale: the
// gradients hold loss_scale x the true gradient (train/loss_scale.h).
struct Clip {
  double norm;   // before clipping, of the true gradient
  double scale;  // the factor for every gradient
};
Clip clip_grad_norm(const ParamGroups& g, double max_norm, const dist::ProcessGroups& groups,
                    dist::CommBackend& backend, double loss_scale = 1.0);

}  // namespace mofe::train
