#include "mofe/config/runtime_config.h"

#include "mofe/config/parse.h"
#include "mofe/core/error.h"

namespace mofe::config {

void RuntimeConfig::validate() const {
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw UsageError("--device: unknown device '" + device + "' (expected auto, cpu or cuda)");
  if (dtype != "float32" && dtype != "float64")
    throw UsageError("--dtype: unknown dtype '" + dtype + "' (expected float32 or float64)");
  if (precision != "fp32" && precision != "bf16-mixed" && precision != "fp16-mixed")
    throw UsageError("--precision: unknown precision '" + precision +
                     "' (expected fp32, bf16-mixed or fp16-mixed)");
  if (mixed() && dtype != "float32")
    throw UsageError("--precision " + precision +
                     " keeps float32 master weights: it excludes --dtype " + dtype);
  if (grad_reduce_dtype != "fp32" && grad_reduce_dtype != "bf16")
    throw UsageError("--grad-reduce-dtype: expected fp32 or bf16, got '" + grad_reduce_dtype + "'");
  if (loss_scale != "auto" && loss_scale != "none" && loss_scale != "dynamic") {
    const auto v = parse_number(loss_scale);
    if (!v || *v <= 0)
      throw UsageError("--loss-scale: '" + loss_scale +
                       "' is none of auto, none, dynamic or a positive number");
  }
  if (loss_scale_window < 1) throw UsageError("--loss-scale-window must be >= 1");
  if (threads < 0) throw UsageError("--threads must be >= 0");
  if (!(step_timeout >= 0 || step_timeout == -1))
    throw UsageError("--step-timeout must be auto, 0 (no watchdog) or a number of seconds");
  if (!(watchdog_floor > 0)) throw UsageError("--watchdog-floor must be positive");
  if (memory_check != "refuse" && memory_check != "warn" && memory_check != "off")
    throw UsageError("--memory-check: expected refuse, warn or off, got '" + memory_check + "'");
  if (comm != "mpi" && comm != "nccl")
    throw UsageError("--comm: unknown backend '" + comm + "' (expected mpi or nccl)");
}

bool RuntimeConfig::dynamic_loss_scale() const {
  return loss_scale == "dynamic" || (loss_scale == "auto" && precision == "fp16-mixed");
}

double RuntimeConfig::initial_loss_scale() const {
  if (dynamic_loss_scale()) return 65536.0;  // 2^16, as torch.cuda.amp.GradScaler starts
  if (loss_scale == "auto" || loss_scale == "none") return 0.0;
  return parse_number(loss_scale).value_or(0.0);
}

}  // namespace mofe::config
