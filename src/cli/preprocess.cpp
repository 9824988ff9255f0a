// mofe preprocess: dataset files -> tokenized HDF5 shards + manifest (data/preprocess.h).
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>

#include "mofe/cli/commands.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/data/preprocess.h"
#include "mofe/dist/communicator.h"
#include "parse_args.h"

namespace po = boost::program_options;

namespace mofe::cli {

int run_preprocess(const Args& args, dist::MpiEnv& env) {
  data::PreprocessConfig c;
  bool no_bos = false, no_eos = false, help = false;
  po::options_description desc("mofe preprocess [options] INPUT...");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("input", po::value(&c.inputs)->multitoken(), "dataset files (also positional)")
      ("format", po::value(&c.format)->default_value(c.format), "auto | mmlu | medmcqa | pubmedqa | sujet-finance | alpaca | prompt-response | text")
      ("tokenizer", po::value(&c.tokenizer), "SentencePiece tokenizer.model (required)")
      ("out", po::value(&c.out_dir), "output directory (required)")
      ("val-fraction", po::value(&c.val_fraction)->default_value(c.val_fraction), "share of records in the validation split")
      ("seed", po::value(&c.seed)->default_value(c.seed), "seed of the train/validation split")
      ("shard-samples", po::value(&c.shard_samples)->default_value(c.shard_samples), "samples per shard")
      ("max-seq-len", po::value(&c.max_seq_len)->default_value(c.max_seq_len), "tokens per sample (BOS/EOS included)")
      ("truncate", po::value(&c.truncate)->default_value(c.truncate), "left: cut the prompt's start | drop: skip long samples")
      ("on-error", po::value(&c.on_error)->default_value(c.on_error), "stop at the first bad record | skip and count")
      ("medmcqa-cop", po::value(&c.medmcqa_cop)->default_value(c.medmcqa_cop), "auto | 0 | 1: base of MedMCQA's cop")
      ("no-bos", po::bool_switch(&no_bos), "do not prepend BOS")
      ("no-eos", po::bool_switch(&no_eos), "do not append EOS");
  // clang-format on
  po::positional_options_description pos;
  pos.add("input", -1);
  const bool ok = agree_on_setup(
      [&] {
        const auto vm = parse_args(args, desc, &pos);
        if ((help = vm.count("help"))) return;
        c.add_bos = !no_bos, c.add_eos = !no_eos;
        c.validate();
      },
      env);
  if (!ok) return kExitUsage;
  if (help) {
    print_help(desc);
    return 0;
  }
  auto world = dist::Communicator::world();
  const auto t0 = std::chrono::steady_clock::now();
  const auto summary = data::preprocess(c, world);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char rate[160];
  std::snprintf(rate, sizeof rate, " | %.2f s, %.0f records/s, %.0f tokens/s, %d ranks", s,
                summary.read / s, summary.tokens / s, world.size());
  log::info0("preprocess: " + summary.line() + rate);
  log::info0("wrote " + c.out_dir + "/manifest.json");
  return 0;
}

}  // namespace mofe::cli
