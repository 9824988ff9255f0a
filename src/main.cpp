// mofe: one MPI program, subcommands over the engine library.
//   mofe train [options]     train a MoFE (or dense) model; see `mofe train --help`
//   mofe bench [options]     throughput / memory / MFU report (JSON + table)
// Failure policy: usage errors are agreed on by all ranks before work starts (exit 2); any
// failure after that prints "[rank r/N step s] cause" and aborts the whole job (exit 1).
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>

#include "mofe/cli/commands.h"
#include "mofe/core/error.h"
#include "mofe/core/fault.h"
#include "mofe/core/log.h"
#include "mofe/core/memory.h"
#include "mofe/dist/mpi_env.h"

namespace {

const char* kUsage =
    "usage: mofe <command> [options]\n"
    "commands:\n"
    "  train       train a Mixture-of-Frozen-Experts model (mofe train --help)\n"
    "  bench       measure step time, memory, communication share and MFU (mofe bench --help)\n"
    "  preprocess  dataset files -> tokenized HDF5 shards (mofe preprocess --help)\n"
    "  inspect     counts, attributes and a decoded sample of a dataset directory\n"
    "  merge       build a MoFE model from dense models (mergekit-moe YAML)\n"
    "  import      Hugging Face Llama/Mixtral directory -> mofe model directory\n"
    "  export      checkpoint or model -> Hugging Face Mixtral/Llama directory\n"
    "  eval        multiple-choice accuracy, scored as lm-evaluation-harness scores it\n";

}  // namespace

int main(int argc, char** argv) {
  mofe::core::retain_freed_memory();
  mofe::dist::MpiEnv env(&argc, &argv);
  mofe::log::identity() = {env.world_rank(), env.world_size(), -1};

  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    mofe::log::info0(kUsage);
    return argc < 2 ? mofe::kExitUsage : 0;
  }
  const std::map<std::string, int (*)(const mofe::cli::Args&, mofe::dist::MpiEnv&)> commands = {
      {"train", mofe::cli::run_train},           {"bench", mofe::cli::run_bench},
      {"preprocess", mofe::cli::run_preprocess}, {"inspect", mofe::cli::run_inspect},
      {"merge", mofe::cli::run_merge},           {"import", mofe::cli::run_import},
      {"export", mofe::cli::run_export},         {"eval", mofe::cli::run_eval}};
  auto it = commands.find(argv[1]);
  if (it == commands.end()) {
    if (env.world_rank() == 0)
      std::fprintf(stderr, "mofe: error: unknown command '%s'\n%s", argv[1], kUsage);
    return mofe::kExitUsage;
  }
  try {  // test-only fault injection (core/fault.h); every rank reads the same variable
    mofe::fault::configure_from_env(env.world_rank());
  } catch (const mofe::UsageError& e) {
    if (env.world_rank() == 0) std::fprintf(stderr, "mofe: error: %s\n", e.what());
    return mofe::kExitUsage;
  }
  if (!mofe::fault::describe().empty())
    mofe::log::warn0("fault injection armed: MOFE_FAULT=" + mofe::fault::describe());
  mofe::cli::Args args(argv + 2, argv + argc);
  int code = mofe::kExitFailure;
  // The user's input, found before or after the ranks agreed on the setup: a file's content
  // (InputError) or an option or setting found while opening the inputs (UsageError). One
  // line, the usage exit code, for the whole job.
  auto input_error = [&](const std::exception& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);
    if (env.world_size() > 1)
      std::fprintf(stderr, "mofe: error (rank %d): %s\n", env.world_rank(), what.c_str());
    else
      std::fprintf(stderr, "mofe: error: %s\n", what.c_str());
    std::fflush(stderr);
    code = mofe::kExitUsage;
  };
  try {
    return it->second(args, env);
  } catch (const mofe::InputError& e) {
    input_error(e);
  } catch (const mofe::UsageError& e) {
    input_error(e);
  } catch (const std::exception& e) {
    // Only this rank may know: say who and where, then take the whole job down.
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);
    mofe::log::error(what);
  } catch (...) {
    mofe::log::error("unknown exception");
  }
  // Alone there is no peer to release: finish cleanly. With peers, MPI_Abort brings down
  // every rank, wherever it is waiting.
  if (env.world_size() == 1) return code;
  mofe::dist::MpiEnv::abort(code);
}
