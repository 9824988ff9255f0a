// mofe import HF_DIR OUT_DIR: a Hugging Face Llama/Mixtral directory -> a mofe model directory.
// mofe export MODEL OUT_DIR: any model mofe reads (checkpoint, mofe model, HF directory) -> a
// Hugging Face directory (Mixtral, or Llama for a dense model) that transformers, vLLM and
// llama.cpp's converter load.
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "mofe/ckpt/model_dir.h"
#include "mofe/ckpt/open_model.h"
#include "mofe/cli/commands.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/io/hf_model.h"
#include "mofe/io/staged_dir.h"
#include "mofe/peft/adapter_io.h"
#include "mofe/peft/layout.h"
#include "mofe/peft/merged_source.h"
#include "mofe/peft/perft_io.h"
#include "mofe/peft/policy.h"
#include "parse_args.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace mofe::cli {

namespace {

using Clock = std::chrono::steady_clock;

bool parse_two(
    const Args& args, po::options_description& desc, std::string& in, std::string& out,
    const char* usage, dist::MpiEnv& env, bool& help, const std::function<void()>& check = [] {}) {
  po::positional_options_description pos;
  pos.add("in", 1).add("out", 1);
  return agree_on_setup(
      [&] {
        const auto vm = parse_args(args, desc, &pos);
        if ((help = vm.count("help"))) return;
        if (in.empty() || out.empty()) throw UsageError(std::string(usage) + ": give both paths");
        check();
      },
      env);
}

}  // namespace

int run_import(const Args& args, dist::MpiEnv& env) {
  std::string in, out;
  bool help = false;
  po::options_description desc("mofe import HF_DIR OUT_DIR");
  desc.add_options()("help,h", "show this help")("in", po::value(&in), "Hugging Face directory")(
      "out", po::value(&out), "mofe model directory to write");
  if (!parse_two(args, desc, in, out, "mofe import", env, help,
                 [&] { io::check_output_apart(out, {in}, "OUT_DIR"); }))
    return kExitUsage;
  if (help) return print_help(desc), 0;
  const auto t0 = Clock::now();
  io::HfModel hf(in);
  ckpt::ModelDirInfo info;
  info.config = hf.config();
  info.source_dtype = hf.source_dtype();
  info.provenance = {{"imported_from", fs::absolute(in).string()}, {"checksum", hf.checksum()}};
  info.dtype_of = [&](const std::string& n) { return hf.tensor_dtype(n); };  // kept per tensor
  auto world = dist::Communicator::world();
  std::vector<std::pair<std::string, std::string>> extras;
  if (fs::exists(fs::path(in) / "tokenizer.model"))
    extras.push_back({(fs::path(in) / "tokenizer.model").string(), "tokenizer.model"});
  const auto sum = ckpt::write_model_dir(
      out, info, [&](const std::string& n) { return hf.load(n); }, world, extras);
  char msg[512];
  std::snprintf(msg, sizeof msg, "imported %s (%s, %s, %zu tensors) into %s in %.2f s, %s",
                in.c_str(), hf.config().is_moe() ? "Mixtral" : "Llama", hf.source_dtype().c_str(),
                hf.names().size(), out.c_str(),
                std::chrono::duration<double>(Clock::now() - t0).count(), sum.c_str());
  log::info0(msg);
  const nlohmann::json report = {
      {"command", "import"},
      {"ranks", world.size()},
      {"tensors", hf.names().size()},
      {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()},
      {"peak_rss_mb_per_rank", peak_rss_per_rank()}};
  log::info0(report.dump());
  return 0;
}

int run_export(const Args& args, dist::MpiEnv& env) {
  std::string in, out, tokenizer;
  io::HfExportOptions opt;
  opt.dtype = "auto";
  bool help = false, merge_adapters = false, adapter_only = false;
  po::options_description desc("mofe export MODEL OUT_DIR [options]");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("in", po::value(&in), "checkpoint, run directory, mofe model or HF directory")
      ("out", po::value(&out), "Hugging Face directory to write")
      ("hf-layout", po::value(&opt.layout)->default_value("mixtral"), "mixtral (experts.E.w1/w2/w3) | fused (mlp.experts.gate_up_proj)")
      ("dtype", po::value(&opt.dtype)->default_value("auto"), "auto (the source's) | bfloat16 | float16 | float32")
      ("shard-size", po::value(&opt.shard_bytes)->default_value(opt.shard_bytes), "bytes per safetensors file")
      ("tokenizer", po::value(&tokenizer), "tokenizer.model to copy (default: found next to the model)")
      ("merge-adapters", po::bool_switch(&merge_adapters), "PEFT runs: fold the adapters into the base weights (NF4 dequantised) and write a plain model")
      ("adapter-only", po::bool_switch(&adapter_only), "PEFT runs: write only the peft adapter directory (adapter_config.json + adapter_model.safetensors); PERFT runs: only perft_config.json + perft_adapters.safetensors");
  // clang-format on
  std::unique_ptr<io::ModelSource> src;
  auto check = [&] {
    if (merge_adapters && adapter_only)
      throw UsageError("--merge-adapters and --adapter-only exclude each other");
    if (opt.layout != "mixtral" && opt.layout != "fused")
      throw UsageError("--hf-layout: unknown layout '" + opt.layout + "' (mixtral or fused)");
    if (opt.dtype != "auto" && opt.dtype != "bfloat16" && opt.dtype != "float16" &&
        opt.dtype != "float32")
      throw UsageError("--dtype: unknown dtype '" + opt.dtype +
                       "' (auto, bfloat16, float16 or float32)");
    src = ckpt::open_model(in);
    io::check_output_apart(out, {in, src->path(), ckpt::base_model_path(in)}, "OUT_DIR");
    if ((merge_adapters || adapter_only) && src->adapters().is_null())
      throw UsageError(std::string(merge_adapters ? "--merge-adapters" : "--adapter-only") + ": '" +
                       in + "' holds no adapters (not a lora, dora or qlora run)");
  };
  if (!parse_two(args, desc, in, out, "mofe export", env, help, check)) return kExitUsage;
  if (help) return print_help(desc), 0;
  if (env.world_rank() != 0) return 0;  // one writer: the files are not split
  const auto t0 = Clock::now();
  // Everything goes into OUT.tmp-*/ and appears as OUT at the end, or not at all.
  io::StagedDir staged(out, io::make_staging_token());
  const nlohmann::json adapters = src->adapters();
  const bool perft =
      !adapters.is_null() && config::is_perft(config::parse_train_mode(adapters.at("mode")));
  if (perft && !merge_adapters) {
    // PERFT's adapters fold into no weight: their own file next to the base (OUT/perft).
    const std::string dir = adapter_only ? staged.path() : staged.path() + "/perft";
    const std::string base = adapter_only ? ckpt::base_model_path(in) : fs::absolute(out).string();
    peft::write_perft(dir, *src, adapters, base);
    log::info0("exported the " + adapters.at("mode").get<std::string>() + " adapters of " + in +
               " to " + out + (adapter_only ? "" : "/perft") +
               " (perft_config.json + perft_adapters.safetensors), base_model_name_or_path " +
               (base.empty() ? "(none)" : base));
    if (adapter_only) {
      staged.publish();
      return 0;
    }
  } else if (!adapters.is_null() && !merge_adapters) {
    // The adapter in peft's format: next to the exported base (OUT/adapter), or alone.
    const auto peft = config::PeftConfig::from_json(adapters.at("peft"));
    const auto layout = peft::adapter_layout(
        src->config(), peft::inference_options(adapters, src->config(), torch::kFloat));
    const std::string dir = adapter_only ? staged.path() : staged.path() + "/adapter";
    const std::string base = adapter_only ? ckpt::base_model_path(in) : fs::absolute(out).string();
    peft::write_adapter(dir, *src, layout, peft, adapters.at("mode") == "dora", base);
    log::info0("exported the " + adapters.at("mode").get<std::string>() + " adapter of " + in +
               " (" + std::to_string(layout.size()) + " tensors) in peft's format to " + out +
               (adapter_only ? "" : "/adapter") + ", base_model_name_or_path " +
               (base.empty() ? "(none)" : base));
    if (adapter_only) {
      staged.publish();
      return 0;
    }
  }
  if (merge_adapters) src = std::make_unique<peft::MergedSource>(std::move(src));
  // --dtype auto stays auto: write_hf_model keeps each tensor's stored dtype.
  const int64_t n = io::write_hf_model(*src, staged.path(), opt);
  if (tokenizer.empty()) tokenizer = ckpt::find_tokenizer(in);
  if (!tokenizer.empty())
    fs::copy_file(tokenizer, fs::path(staged.path()) / "tokenizer.model",
                  fs::copy_options::overwrite_existing);
  else
    log::warn0("no tokenizer.model found for '" + in + "'; give --tokenizer to include one");
  staged.publish();
  char msg[512];
  std::snprintf(msg, sizeof msg, "exported %s (%s) to %s: %lld tensors, %s, %s layout, %.2f s",
                in.c_str(), src->kind().c_str(), out.c_str(), (long long)n, opt.dtype.c_str(),
                src->config().is_moe() ? opt.layout.c_str() : "llama",
                std::chrono::duration<double>(Clock::now() - t0).count());
  log::info0(msg);
  return 0;
}

}  // namespace mofe::cli
