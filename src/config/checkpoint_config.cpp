#include "mofe/config/checkpoint_config.h"

#include "mofe/core/error.h"

namespace mofe::config {

void CheckpointConfig::validate() const {
  if (every < 0) throw UsageError("--checkpoint-every must be >= 0");
  if (keep < 1) throw UsageError("--keep-checkpoints must be >= 1");
  if (max_bad_steps < 1) throw UsageError("--max-bad-steps must be >= 1");
}

}  // namespace mofe::config
