// Command-line and config-file options of `mofe train` (and of subcommands that build a model),
// parsed with Boost.Program_options into one typed RunConfig.
//
// Precedence: command line > --config FILE > --model-config JSON (model shape only) > defaults.
// Config files use the long option names without dashes, one "name = value" per line;
// an unknown name is an error that names the file.
#pragma once

#include <string>
#include <vector>

#include "mofe/config/run_config.h"

namespace mofe::config {

struct ParsedRun {
  RunConfig config;
  bool help = false;
  std::string help_text;
};

// args: the subcommand's arguments (without "mofe train"). Throws UsageError.
// Validation against the world size is left to RunConfig::validate.
ParsedRun parse_run_config(const std::vector<std::string>& args);

// "0,2,5" -> {0, 2, 5}; UsageError naming `option` on anything else.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& option);

}  // namespace mofe::config
