// Command-line and config-file options of `mofe train` (and of subcommands that build a model),
// parsed with Boost.Program_options into one typed RunConfig.
//
// Precedence: command line > --config FILE > --model-config JSON (model shape only) > defaults.
// Config files use the long option names without dashes, one "name = value" per line,
// optionally under section headers named after the option groups ([model], [parallel],
// [train], [peft], [data], [checkpoint], [runtime]); an unknown name, an unknown section or
// an option under another group's header is an error that names the file and line.
#pragma once

#include <string>
#include <vector>

#include "mofe/config/parse.h"
#include "mofe/config/run_config.h"

namespace mofe::config {

struct ParsedRun {
  RunConfig config;
  bool help = false;
  bool dry_run = false;  // --dry-run: report parameters and memory per rank, then exit
  std::string help_text;
  std::vector<std::string> given;  // options set on the command line or in the file
};

// args: the subcommand's arguments (without "mofe train"). Throws UsageError.
// Validation against the world size is left to RunConfig::validate.
ParsedRun parse_run_config(const std::vector<std::string>& args);

// "q_proj,v_proj" -> {"q_proj", "v_proj"} (empty items dropped).
std::vector<std::string> parse_name_list(const std::string& text);

// "0,2,5" -> {0, 2, 5}; UsageError naming `option` on anything else.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& option);

}  // namespace mofe::config
