#include "mofe/config/runtime_config.h"

#include "mofe/core/error.h"

namespace mofe::config {

void RuntimeConfig::validate() const {
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw UsageError("--device: unknown device '" + device + "' (expected auto, cpu or cuda)");
  if (dtype != "float32" && dtype != "float64")
    throw UsageError("--dtype: unknown dtype '" + dtype + "' (expected float32 or float64)");
  if (threads < 0) throw UsageError("--threads must be >= 0");
  if (!(step_timeout >= 0 || step_timeout == -1))
    throw UsageError("--step-timeout must be auto, 0 (no watchdog) or a number of seconds");
  if (!(watchdog_floor > 0)) throw UsageError("--watchdog-floor must be positive");
  if (memory_check != "refuse" && memory_check != "warn" && memory_check != "off")
    throw UsageError("--memory-check: expected refuse, warn or off, got '" + memory_check + "'");
  if (comm != "mpi" && comm != "nccl")
    throw UsageError("--comm: unknown backend '" + comm + "' (expected mpi or nccl)");
}

}  // namespace mofe::config
