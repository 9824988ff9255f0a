// Private to the subcommands: Boost.Program_options parsing with its errors as UsageError.
#pragma once

#include <boost/program_options.hpp>
#include <sstream>

#include "mofe/cli/commands.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"

namespace mofe::cli {

inline boost::program_options::variables_map parse_args(
    const Args& args, const boost::program_options::options_description& desc,
    const boost::program_options::positional_options_description* positional = nullptr) {
  namespace po = boost::program_options;
  po::variables_map vm;
  try {
    po::command_line_parser parser(args);
    parser.options(desc);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return vm;
}

// Prints a subcommand's options on rank 0 (for --help).
inline void print_help(const boost::program_options::options_description& desc) {
  std::ostringstream os;
  os << desc;
  log::info0(os.str());
}

}  // namespace mofe::cli
