#include "mofe/config/data_config.h"

#include "mofe/core/error.h"

namespace mofe::config {

void DataConfig::validate() const {
  if (source != "synthetic")
    throw UsageError("--data: unknown data source '" + source + "' (expected synthetic)");
  if (branching <= 0) throw UsageError("--data-branching must be positive");
}

}  // namespace mofe::config
