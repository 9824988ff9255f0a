// mofe inspect DATASET_DIR: counts, attributes and a decoded sample of a preprocessed dataset.
#include <boost/program_options.hpp>
#include <cstdio>

#include "mofe/cli/commands.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/data/dataset.h"
#include "mofe/data/tokenizer.h"
#include "parse_args.h"

namespace po = boost::program_options;

namespace mofe::cli {

int run_inspect(const Args& args, dist::MpiEnv& env) {
  std::string dir, split = "train", tokenizer;
  int64_t index = 0;
  bool help = false;
  po::options_description desc("mofe inspect DATASET_DIR [options]");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("dir", po::value(&dir), "dataset directory (also positional)")
      ("split", po::value(&split)->default_value(split), "train | val")
      ("sample", po::value(&index)->default_value(index), "sample to decode")
      ("tokenizer", po::value(&tokenizer), "tokenizer.model (default: the one in the manifest)");
  // clang-format on
  po::positional_options_description pos;
  pos.add("dir", 1);
  const bool ok = agree_on_setup(
      [&] {
        const auto vm = parse_args(args, desc, &pos);
        if ((help = vm.count("help"))) return;
        if (dir.empty()) throw UsageError("mofe inspect: give a dataset directory");
      },
      env);
  if (!ok) return kExitUsage;
  if (env.world_rank() != 0) return 0;
  if (help) {
    print_help(desc);
    return 0;
  }
  data::TokenDataset ds(dir, split, "");  // opens and validates every shard of the split
  const auto& m = ds.manifest();
  std::printf("dataset %s\n  tokenizer %s (%s), vocab %lld, bos %lld eos %lld pad %lld\n  %s\n",
              dir.c_str(), m.tokenizer_path.c_str(), m.tokenizer_checksum.c_str(),
              (long long)m.vocab_size, (long long)m.bos_id, (long long)m.eos_id,
              (long long)m.pad_id, m.summary.c_str());
  for (const auto& s : m.shards)
    std::printf("  %-5s %-28s %8lld samples %10lld tokens\n", s.split.c_str(), s.file.c_str(),
                (long long)s.samples, (long long)s.tokens);
  if (index < 0 || index >= ds.size())
    throw UsageError("--sample " + std::to_string(index) + " out of range [0, " +
                     std::to_string(ds.size()) + ")");
  const auto sample = ds.sample(index);
  data::Tokenizer tok(tokenizer.empty() ? m.tokenizer_path : tokenizer);
  std::vector<int32_t> prompt, response;
  for (size_t i = 0; i < sample.tokens.size(); ++i)
    (sample.loss_mask[i] ? response : prompt).push_back(sample.tokens[i]);
  std::printf(
      "sample %lld of %s (%zu tokens, %zu trained on)\n--- prompt (masked) ---\n%s\n"
      "--- response (trained) ---\n%s\n",
      (long long)index, split.c_str(), sample.tokens.size(), response.size(),
      tok.decode(prompt).c_str(), tok.decode(response).c_str());
  return 0;
}

}  // namespace mofe::cli
