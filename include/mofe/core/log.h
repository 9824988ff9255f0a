// Logging helpers: rank-0-only info lines, rank-prefixed lines, and a process-wide
// identity (rank, world size, current step) used to prefix fatal errors.
// This is the only place that writes to stdout/stderr besides main().
#pragma once

#include <cstdint>
#include <string>

namespace mofe::log {

// Set once by main() after MPI is up; read by the fatal-error path.
struct Identity {
  int rank = 0;
  int world = 1;
  int64_t step = -1;  // the step being run, from 1 as the progress lines count; -1: none
};
Identity& identity();

// "[rank r/N step s]" (step omitted when < 0).
std::string prefix();

void info0(const std::string& msg);  // rank 0 only, stdout
void info(const std::string& msg);   // every rank, stdout, prefixed
void warn0(const std::string& msg);  // rank 0 only, stderr, "warning: "
void error(const std::string& msg);  // every rank, stderr, prefixed

}  // namespace mofe::log
