// mofe merge CONFIG.yml OUT: a MoFE model from dense models (mergekit-moe YAML), under MPI or
// alone; the prompt forward passes and the expert files are split over the ranks.
#include <boost/program_options.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "mofe/cli/commands.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/io/staged_dir.h"
#include "mofe/merge/merge.h"
#include "parse_args.h"

namespace po = boost::program_options;

namespace mofe::cli {

int run_merge(const Args& args, dist::MpiEnv& env) {
  std::string config_path;
  merge::MergeOptions opt;
  merge::MergeConfig cfg;
  bool help = false;
  po::options_description desc("mofe merge CONFIG.yml OUT_DIR [options]");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("config", po::value(&config_path), "mergekit-moe YAML (also the first positional)")
      ("out", po::value(&opt.out_dir), "output model directory (also the second positional)")
      ("tokenizer", po::value(&opt.tokenizer), "tokenizer.model for the prompts (default: the base model's)")
      ("allow-identical-experts", po::bool_switch(&opt.allow_identical_experts), "every expert may be the same model")
      ("seed", po::value(&opt.seed)->default_value(opt.seed), "seed of random gates and expert noise");
  // clang-format on
  po::positional_options_description pos;
  pos.add("config", 1).add("out", 1);
  const bool ok = agree_on_setup(
      [&] {
        const auto vm = parse_args(args, desc, &pos);
        if ((help = vm.count("help"))) return;
        if (config_path.empty() || opt.out_dir.empty())
          throw UsageError("mofe merge: give CONFIG.yml and OUT_DIR");
        cfg = merge::MergeConfig::load(config_path);
        cfg.validate(opt.allow_identical_experts);
        std::vector<std::string> inputs{config_path, cfg.base_model, opt.tokenizer};
        for (const auto& e : cfg.experts) inputs.push_back(e.source_model);
        io::check_output_apart(opt.out_dir, inputs, "OUT_DIR");
      },
      env);
  if (!ok) return kExitUsage;
  if (help) {
    print_help(desc);
    return 0;
  }
  auto world = dist::Communicator::world();
  const auto rep = merge::merge_models(cfg, opt, world);
  char msg[512];
  std::snprintf(msg, sizeof msg,
                "merged %lld experts x %lld layers (%lld tensors, gate_mode %s) into %s: "
                "routers %.2f s, writing %.2f s, %s",
                (long long)rep.experts, (long long)rep.layers, (long long)rep.tensors,
                cfg.gate_mode.c_str(), opt.out_dir.c_str(), rep.gate_seconds, rep.write_seconds,
                rep.checksum.c_str());
  log::info0(msg);
  const nlohmann::json report = {{"command", "merge"},
                                 {"ranks", world.size()},
                                 {"experts", rep.experts},
                                 {"layers", rep.layers},
                                 {"gate_mode", cfg.gate_mode},
                                 {"gate_seconds", rep.gate_seconds},
                                 {"write_seconds", rep.write_seconds},
                                 {"peak_rss_mb_per_rank", peak_rss_per_rank()}};
  log::info0(report.dump());
  return 0;
}

}  // namespace mofe::cli
