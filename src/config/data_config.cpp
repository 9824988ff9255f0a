#include "mofe/config/data_config.h"

#include <filesystem>

#include "mofe/core/error.h"

namespace mofe::config {

void DataConfig::validate() const {
  if (source != "synthetic" && !std::filesystem::is_regular_file(source + "/manifest.json"))
    throw UsageError("--data: '" + source +
                     "' is neither 'synthetic' nor a dataset directory with a manifest.json");
  if (!tokenizer.empty() && !std::filesystem::is_regular_file(tokenizer))
    throw UsageError("--tokenizer: '" + tokenizer + "' does not exist");
  if (prefetch < 0) throw UsageError("--prefetch must be >= 0");
  if (branching <= 0) throw UsageError("--data-branching must be positive");
}

}  // namespace mofe::config
