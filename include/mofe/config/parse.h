// Strict parsing of option values that are numbers in a string (options that also take words,
// such as --step-timeout auto or --loss-scale dynamic).
#pragma once

#include <optional>
#include <string>

namespace mofe::config {

// The whole of `text` as a finite number; nullopt when it is not one ("12x", "nan", "").
std::optional<double> parse_number(const std::string& text);

}  // namespace mofe::config
