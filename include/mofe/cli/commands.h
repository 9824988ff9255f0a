// The subcommands of the mofe executable. Each takes its own arguments (after the subcommand
// name) and the MPI environment, and returns the process exit code.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mofe/dist/mpi_env.h"

namespace mofe::cli {

using Args = std::vector<std::string>;

int run_train(const Args& args, dist::MpiEnv& env);
int run_bench(const Args& args, dist::MpiEnv& env);
int run_preprocess(const Args& args, dist::MpiEnv& env);
int run_inspect(const Args& args, dist::MpiEnv& env);
int run_merge(const Args& args, dist::MpiEnv& env);
int run_import(const Args& args, dist::MpiEnv& env);
int run_export(const Args& args, dist::MpiEnv& env);
int run_eval(const Args& args, dist::MpiEnv& env);

// Runs `parse` on every rank and agrees on the outcome before any collective work starts: if
// any rank throws UsageError, the lowest such rank prints its message and every rank returns
// false (so the job exits with kExitUsage instead of leaving peers in a collective).
bool agree_on_setup(const std::function<void()>& parse, const dist::MpiEnv& env);

// Every rank's peak resident memory (MB), gathered on all ranks: for the reports of
// import/merge/eval that say what a command costs per rank.
std::vector<double> peak_rss_per_rank();

}  // namespace mofe::cli
