// mofe bench: step time, tokens/s, peak memory, communication share and MFU for `mofe` and
// `full` mode over several expert counts, on the same model and data. Prints a table and JSON.
//
//   MFU = model FLOPs of this rank's step (model/flops.h) / step time / peak matmul FLOP/s,
//   the peak being the best of fp32 matmul probes (n=2048 on CPU with the same threads, 8192 on
//   a GPU) before and after the runs, on the same device. Time ratios between runs are set
//   against their executed FLOPs (model FLOPs plus what --recompute runs again).
#include <malloc.h>

#include <torch/csrc/autograd/profiler_legacy.h>
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "mofe/ckpt/checkpoint.h"
#include "mofe/cli/commands.h"
#include "mofe/config/options.h"
#include "mofe/core/device.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/core/memory.h"
#include "mofe/data/dataset.h"
#include "mofe/data/loader.h"
#include "mofe/data/synthetic.h"
#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/model/flops.h"
#include "mofe/model/param_count.h"
#include "mofe/model/precision.h"
#include "mofe/train/memory_plan.h"
#include "mofe/train/trainer.h"
#include "parse_args.h"

namespace po = boost::program_options;

namespace mofe::cli {

namespace {

struct BenchOptions {
  std::string preset = "tiny", experts = "2,4,8", modes = "mofe,full", json_file, comm = "mpi",
              device = "cpu", data_dir, checkpoint_dir, profile_dir, lora_targets = "q_proj,v_proj",
              frozen_dtype = "auto", precision = "fp32", recompute = "auto";
  int64_t lora_r = 8;
  int64_t perft_rank = 8, perft_adapters = 4, perft_topk = 2;
  int64_t steps = 3, warmup = 1;
  int threads = 0, ep_size = 0;
};

config::RunConfig preset_config(const std::string& name) {
  config::RunConfig c;
  if (name == "tiny") return c;  // the bundled tiny default
  if (name == "ref") {
    // Reference config of issue #2: hidden 512, ffn 1376, 8 layers, 8 heads / 4 kv,
    // vocab 32000, 8 experts top-2, sequence 256, batch 4.
    c.model.hidden_size = 512;
    c.model.intermediate_size = 1376;
    c.model.num_hidden_layers = 8;
    c.model.num_attention_heads = 8;
    c.model.num_key_value_heads = 4;
    c.model.vocab_size = 32000;
    c.train.seq_len = 256;
    c.train.micro_batch = 4;
    return c;
  }
  if (name == "tinyllama") {
    // TinyLlama-1.1B's shapes as experts of a Mixtral (#13's GPU benchmark): hidden 2048,
    // ffn 5632, 22 layers, 32 heads / 4 kv, vocab 32000, top-2, sequence 2048, batch 1.
    c.model.hidden_size = 2048;
    c.model.intermediate_size = 5632;
    c.model.num_hidden_layers = 22;
    c.model.num_attention_heads = 32;
    c.model.num_key_value_heads = 4;
    c.model.vocab_size = 32000;
    c.model.max_position_embeddings = 2048;
    c.train.seq_len = 2048;
    c.train.micro_batch = 1;
    return c;
  }
  throw UsageError("--preset: unknown preset '" + name + "' (expected tiny, ref or tinyllama)");
}

// The parts of a step (train::StepPhases), in the order bench sums and reports them.
constexpr const char* kPhaseNames[] = {"zero_grad", "forward", "backward",
                                       "grad_sync", "clip",    "optimizer"};

// Two results run with the same --frozen-dtype, precision and recomputation (the storage a
// mode resolves it to may differ: qlora's auto is nf4, mofe's fp32).
bool same_variant(const nlohmann::json& a, const nlohmann::json& b) {
  return a["frozen_dtype_option"] == b["frozen_dtype_option"] && a["precision"] == b["precision"] &&
         a["recompute"] == b["recompute"];
}

}  // namespace

int run_bench(const Args& args, dist::MpiEnv& env) {
  BenchOptions o;
  po::options_description desc("mofe bench options");
  desc.add_options()("help,h", "show this help")(
      "preset", po::value(&o.preset)->default_value(o.preset),
      "tiny | ref (hidden 512, 8 layers, vocab 32000, seq 256, batch 4) | tinyllama "
      "(TinyLlama-1.1B's shapes, seq 2048, batch 1: for a GPU)")(
      "experts", po::value(&o.experts)->default_value(o.experts), "expert counts to compare")(
      "modes", po::value(&o.modes)->default_value(o.modes),
      "modes to compare (mofe, full, lora, dora, qlora, perft-r, perft-e, perft-s, perft-d)")(
      "steps", po::value(&o.steps)->default_value(o.steps), "timed steps per configuration")(
      "warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed steps first")(
      "threads", po::value(&o.threads)->default_value(o.threads),
      "intra-op threads per rank (0: cores / ranks)")(
      "ep-size", po::value(&o.ep_size)->default_value(o.ep_size),
      "expert-parallel size (0: world size)")("comm", po::value(&o.comm)->default_value(o.comm),
                                              "mpi | nccl")(
      "device", po::value(&o.device)->default_value(o.device), "cpu | cuda | auto")(
      "json", po::value(&o.json_file), "also write the JSON report to FILE")(
      "data", po::value(&o.data_dir), "also time the loader on this dataset against training")(
      "checkpoint-dir", po::value(&o.checkpoint_dir),
      "also time checkpoint writes and reads (mofe vs full) here")(
      "lora-r", po::value(&o.lora_r)->default_value(o.lora_r), "adapter rank (lora, dora, qlora)")(
      "lora-targets", po::value(&o.lora_targets)->default_value(o.lora_targets),
      "adapted modules (lora, dora, qlora)")("perft-rank",
                                             po::value(&o.perft_rank)->default_value(o.perft_rank),
                                             "PERFT bottleneck width")(
      "perft-adapters", po::value(&o.perft_adapters)->default_value(o.perft_adapters),
      "PERFT adapters per layer (perft-r, perft-d)")(
      "perft-topk", po::value(&o.perft_topk)->default_value(o.perft_topk),
      "adapters per token (perft-r)")(
      "frozen-dtype", po::value(&o.frozen_dtype)->default_value(o.frozen_dtype),
      "storage of frozen weights, a comma list: auto | fp32 | bf16 | nf4")(
      "precision", po::value(&o.precision)->default_value(o.precision),
      "comma list of fp32 | bf16-mixed | fp16-mixed")(
      "recompute", po::value(&o.recompute)->default_value(o.recompute),
      "comma list of auto | none | moe | attention | full (memory and time of each level; auto: "
      "each mode's default)")(
      "profile", po::value(&o.profile_dir),
      "write a Chrome trace of the timed steps of each configuration into DIR (LibTorch's "
      "profiler, rank 0; chrome://tracing or Perfetto); on a GPU it also synchronises at each "
      "phase boundary so that phases_s is exact");

  std::vector<config::RunConfig> runs;
  std::vector<std::string> frozen_option;     // per run: the --frozen-dtype entry it ran with
  std::vector<std::string> recompute_option;  // per run: the --recompute entry it ran with
  std::set<std::string> seen;                 // the runs already listed (see below)
  torch::Device device(torch::kCPU);
  bool help = false;
  const bool ok = agree_on_setup(
      [&] {
        const auto vm = parse_args(args, desc);
        if ((help = vm.count("help"))) return;
        if (o.steps <= 0 || o.warmup < 0) throw UsageError("--steps must be > 0, --warmup >= 0");
        for (int64_t e : config::parse_int_list(o.experts, "--experts"))
          for (const auto& mode : config::parse_name_list(o.modes))
            for (const auto& frozen : config::parse_name_list(o.frozen_dtype))
              for (const auto& precision : config::parse_name_list(o.precision))
                for (const auto& recompute : config::parse_name_list(o.recompute)) {
                  config::RunConfig c = preset_config(o.preset);
                  c.model.num_local_experts = e;
                  c.train.mode = config::parse_train_mode(mode);
                  c.train.steps = o.warmup + o.steps;
                  c.peft.lora_r = o.lora_r;
                  c.peft.lora_targets = config::parse_name_list(o.lora_targets);
                  c.peft.perft_rank = o.perft_rank;
                  c.peft.perft_adapters = o.perft_adapters;
                  c.peft.perft_topk = o.perft_topk;
                  c.peft.frozen_dtype = frozen;
                  if (c.train.mode == config::TrainMode::kQlora && frozen != "auto")
                    c.peft.frozen_dtype = "auto";
                  c.runtime.precision = precision;
                  c.train.recompute = recompute;
                  c.parallel.ep_size = o.ep_size > 0 ? o.ep_size : env.world_size();
                  c.runtime.threads = o.threads;
                  c.runtime.comm = o.comm;
                  c.runtime.device = o.device;
                  c.validate(env.world_size());
                  // Lists can name one run twice (qlora's frozen storage is always nf4; auto
                  // recomputation is none outside qlora): each run once, as first named.
                  const std::string key = std::to_string(e) + " " + mode + " " +
                                          c.peft.storage(c.train.mode) + " " + precision + " " +
                                          config::to_string(c.train.recompute_level());
                  if (!seen.insert(key).second) continue;
                  frozen_option.push_back(frozen);
                  recompute_option.push_back(recompute);
                  runs.push_back(c);
                }
        device = core::select_device(runs.front().runtime, env.local_rank());
        for (const auto& precision : config::parse_name_list(o.precision))
          model::check_precision_supported(precision, device);
      },
      env);
  if (!ok) return kExitUsage;
  if (help) {
    std::ostringstream os;
    os << "usage: mofe bench [options]\n" << desc;
    log::info0(os.str());
    return 0;
  }

  const int threads = core::configure_threads(runs.front().runtime, env.local_size());
  core::report_blas(threads, false);
  auto world = dist::Communicator::world();
  // Peak matmul rate with the same threads, all ranks at once (they share the cores in training
  // too).
  // The peak is the best of several probes, before and after the runs (this machine is noisy;
  // a slow probe would flatter every MFU): a 2048^3 fp32 matmul on the CPU, 8192^3 on a GPU.
  const int64_t probe_n = device.is_cuda() ? 8192 : 2048;
  world.barrier();
  double peak = core::matmul_flops(probe_n, 3, torch::kFloat32, device);
  auto backend = dist::make_backend(o.comm, device);

  nlohmann::json results = nlohmann::json::array();
  for (const auto& cfg : runs) {
    auto groups = dist::ProcessGroups::build(world, cfg.parallel, cfg.model.num_local_experts);
    core::reset_peak_rss();
    const double base_mb = core::current_rss_mb();
    train::Trainer trainer(cfg, groups, *backend, device);
    data::SyntheticLanguage lang(cfg.model.vocab_size, cfg.data.branching, cfg.data.seed);
    const int64_t mb = cfg.train.micro_batch, S = cfg.train.seq_len;
    trainer.time_phases(!o.profile_dir.empty());
    double timed = 0;
    // Per timed step, in kPhaseNames' order (train::StepPhases).
    std::vector<double> phases(std::size(kPhaseNames), 0.0);
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
    for (int64_t step = 0; step < cfg.train.steps; ++step) {
      if (step == o.warmup) {
        backend->stats().reset();
        world.barrier();
        if (!o.profile_dir.empty() && world.rank() == 0) {
          std::filesystem::create_directories(o.profile_dir);
          profile = std::make_unique<torch::autograd::profiler::RecordProfile>(
              o.profile_dir + "/" + o.preset + "-E" + std::to_string(cfg.model.num_local_experts) +
              "-" + config::to_string(cfg.train.mode) + ".json");
        }
      }
      auto batch = lang.batch((step * world.size() + world.rank()) * mb, mb, S);
      auto s = trainer.train_step({batch}, step);
      if (step >= o.warmup) {
        timed += s.step_time_s;
        const auto& p = s.phases;
        const double parts[] = {p.zero_s, p.forward_s, p.backward_s,  // kPhaseNames' order
                                p.sync_s, p.clip_s,    p.optimizer_s};
        for (size_t i = 0; i < phases.size(); ++i) phases[i] += parts[i] / double(o.steps);
      }
    }
    world.all_reduce(phases, dist::Reduce::kMax);
    profile.reset();
    // Slowest rank sets the pace: take the max over ranks of time and memory.
    // [4]: what the run added to the process (peak less what it held before the trainer was
    // built: LibTorch, MPI, the probe's buffers), the part a mode can change.
    const double peak_mb = core::peak_rss_mb();
    std::vector<double> v{timed,
                          peak_mb,
                          backend->stats().all_to_all_s,
                          backend->stats().all_reduce_s,
                          peak_mb - base_mb,
                          base_mb};
    std::vector<double> mx = v;
    world.all_reduce(mx, dist::Reduce::kMax);
    const double step_s = mx[0] / o.steps;
    const auto flops = model::step_flops(cfg.model, cfg.train, mb * S, S, cfg.peft);
    const auto counts = model::count_parameters(cfg.model, cfg.train, cfg.peft);
    const auto plan = train::plan_memory(cfg);
    nlohmann::json r = {
        {"preset", o.preset},
        {"experts", cfg.model.num_local_experts},
        {"top_k", cfg.model.num_experts_per_tok},
        {"mode", config::to_string(cfg.train.mode)},
        {"frozen_dtype", cfg.peft.storage(cfg.train.mode)},
        {"frozen_dtype_option", frozen_option[results.size()]},
        {"precision", cfg.runtime.precision},
        {"recompute", config::to_string(cfg.train.recompute_level())},
        {"recompute_option", recompute_option[results.size()]},
        {"ranks", world.size()},
        {"threads_per_rank", threads},
        {"step_time_s", step_s},
        {"tokens_per_s", double(mb * S * world.size()) / step_s},
        {"peak_rss_mb_per_rank", mx[1]},
        {"run_peak_mb_per_rank", mx[4]},
        {"baseline_rss_mb_per_rank", mx[5]},
        {"estimated_peak_mb_per_rank", plan.ranks[size_t(groups.ep.rank())].peak_bytes() / 1e6},
        {"trainable_parameters", counts.trainable},
        {"frozen_bytes", plan.frozen_bytes},
        {"all_to_all_frac", mx[2] / mx[0]},
        {"all_reduce_frac", mx[3] / mx[0]},
        {"flops_per_rank",
         {{"forward", flops.forward},
          {"input_grad", flops.input_grad},
          {"weight_grad", flops.weight_grad},
          {"frozen_expert_weight_grad_skipped", flops.expert_weight_grad_skipped},
          {"adapter", flops.adapter},
          {"total", flops.total()},
          {"recompute", flops.recompute},
          {"executed", flops.executed()}}},
        {"achieved_gflops_per_rank", flops.total() / step_s / 1e9},
        // Where a step's time goes (slowest rank per part; "other": the rest of the step, e.g.
        // the batch's host-to-device copy and the loss reads).
        {"phases_s", nlohmann::json::object()},
        {"mfu", flops.total() / step_s / peak}};
    for (size_t i = 0; i < phases.size(); ++i) r["phases_s"][kPhaseNames[i]] = phases[i];
    r["phases_s"]["other"] = step_s - std::accumulate(phases.begin(), phases.end(), 0.0);
    if (!o.checkpoint_dir.empty()) {
      // Checkpoint cost of this trained state: trainable-only (frozen experts recorded, not
      // written) against --full-checkpoint, then a restore into a fresh trainer.
      for (bool full : {false, true}) {
        config::CheckpointConfig cc = cfg.checkpoint;
        cc.dir = o.checkpoint_dir + "/" + std::to_string(cfg.model.num_local_experts) + "-" +
                 config::to_string(cfg.train.mode) + (full ? "-full" : "");
        cc.full = full;
        cc.keep = 1;
        const auto saved = ckpt::save(cc, cfg, cfg.train.steps, trainer.train_state(full), groups);
        train::Trainer fresh(cfg, groups, *backend, device);
        cc.resume = saved.path;
        const auto t1 = std::chrono::steady_clock::now();
        auto state = fresh.train_state();
        ckpt::restore(cc, state, groups);
        std::vector<double> t{
            saved.seconds,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count()};
        world.all_reduce(t, dist::Reduce::kMax);
        r[full ? "checkpoint_full" : "checkpoint"] = {
            {"bytes", saved.bytes}, {"write_s", t[0]}, {"read_s", t[1]}};
        char line[200];
        std::snprintf(line, sizeof line, "      checkpoint%s: %.1f MB, write %.3f s, read %.3f s",
                      full ? " (full)" : "", saved.bytes / 1e6, t[0], t[1]);
        log::info0(line);
      }
    }
    results.push_back(r);
    char line[384];
    std::snprintf(line, sizeof line,
                  "%-5s E=%-2lld %-5s %-4s %-10s rc=%-9s | %8.3f s/step | %8.0f tok/s | %7.0f MB | "
                  "a2a %4.1f%% | "
                  "allreduce %4.1f%% | %6.1f GFLOP/step | MFU %5.1f%% | %11lld trainable",
                  o.preset.c_str(), (long long)cfg.model.num_local_experts,
                  config::to_string(cfg.train.mode).c_str(),
                  cfg.peft.storage(cfg.train.mode).c_str(), cfg.runtime.precision.c_str(),
                  config::to_string(cfg.train.recompute_level()).c_str(), step_s,
                  double(r["tokens_per_s"]), mx[1], 100 * mx[2] / mx[0], 100 * mx[3] / mx[0],
                  flops.total() / 1e9, 100 * double(r["mfu"]), (long long)counts.trainable);
    log::info0(line);
    std::string split = "      phases (s/step):";
    for (size_t i = 0; i < phases.size(); ++i) {
      std::snprintf(line, sizeof line, " %s %.3f", kPhaseNames[i], phases[i]);
      split += line;
    }
    log::info0(split);
  }

  world.barrier();
  const double peak_after = core::matmul_flops(probe_n, 3, torch::kFloat32, device);
  if (peak_after > peak) {  // MFU against the best probe
    for (auto& r : results) r["mfu"] = double(r["mfu"]) * peak / peak_after;
    peak = peak_after;
  }
  // mofe vs full at each expert count: time ratio against FLOP ratio, memory ratio.
  nlohmann::json ratios = nlohmann::json::array();
  for (const auto& a : results)
    for (const auto& b : results)
      if (same_variant(a, b) && a["experts"] == b["experts"] && a["mode"] == "mofe" &&
          b["mode"] == "full") {
        const double tr = double(a["step_time_s"]) / double(b["step_time_s"]);
        const double fr =
            double(a["flops_per_rank"]["executed"]) / double(b["flops_per_rank"]["executed"]);
        ratios.push_back({{"experts", a["experts"]},
                          {"time_ratio_mofe_over_full", tr},
                          {"flop_ratio_mofe_over_full", fr},
                          {"time_vs_flop_ratio_error", tr / fr - 1.0},
                          {"memory_ratio_mofe_over_full",
                           double(a["peak_rss_mb_per_rank"]) / double(b["peak_rss_mb_per_rank"])}});
      }
  // Every mode against mofe mode at each expert count: time ratio against FLOP ratio, memory.
  // The partner is the mofe run given the same options: the same frozen storage and precision
  // option, and the --recompute option as it resolves in mofe mode (qlora's auto recomputes
  // every layer; mofe mode's auto recomputes nothing).
  auto mofe_partner = [&](const nlohmann::json& a, const nlohmann::json& b) {
    config::TrainConfig t;
    t.recompute = a["recompute_option"].get<std::string>();
    return a["frozen_dtype_option"] == b["frozen_dtype_option"] &&
           a["precision"] == b["precision"] &&
           b["recompute"] == config::to_string(t.recompute_level());
  };
  nlohmann::json vs_mofe = nlohmann::json::array();
  for (const auto& a : results)
    for (const auto& b : results)
      if (mofe_partner(a, b) && a["experts"] == b["experts"] && b["mode"] == "mofe" &&
          a["mode"] != "mofe") {
        const double tr = double(a["step_time_s"]) / double(b["step_time_s"]);
        const double fr =
            double(a["flops_per_rank"]["executed"]) / double(b["flops_per_rank"]["executed"]);
        const double mr = double(a["peak_rss_mb_per_rank"]) / double(b["peak_rss_mb_per_rank"]);
        const double rr = double(a["run_peak_mb_per_rank"]) / double(b["run_peak_mb_per_rank"]);
        vs_mofe.push_back({{"experts", a["experts"]},
                           {"mode", a["mode"]},
                           {"recompute", a["recompute"]},
                           {"time_ratio_over_mofe", tr},
                           {"flop_ratio_over_mofe", fr},
                           {"time_vs_flop_ratio_error", tr / fr - 1.0},
                           {"memory_ratio_over_mofe", mr},
                           {"run_memory_ratio_over_mofe", rr}});
        char line[256];
        std::snprintf(line, sizeof line,
                      "E=%-2lld %-7s rc=%-9s / mofe: time %.3f, FLOPs %.3f (%+.1f%%), peak memory "
                      "%.2f",
                      (long long)a["experts"].get<int64_t>(), a["mode"].get<std::string>().c_str(),
                      a["recompute"].get<std::string>().c_str(), tr, fr, 100 * (tr / fr - 1.0), mr);
        log::info0(line);
      }
  // Frozen storage, precision and recomputation against the plain run of the same experts and
  // mode (frozen weights as the mode stores them by default, fp32, no recomputation).
  nlohmann::json vs_plain = nlohmann::json::array();
  for (const auto& a : results)
    for (const auto& b : results) {
      // The storage the mode gives frozen weights when not told (qlora: nf4, else fp32).
      const std::string plain_frozen =
          config::PeftConfig{}.storage(config::parse_train_mode(b["mode"].get<std::string>()));
      if (a["experts"] != b["experts"] || a["mode"] != b["mode"] || same_variant(a, b) ||
          b["precision"] != "fp32" || b["recompute"] != "none" || b["frozen_dtype"] != plain_frozen)
        continue;
      const double mr = double(a["peak_rss_mb_per_rank"]) / double(b["peak_rss_mb_per_rank"]);
      const double rr = double(a["run_peak_mb_per_rank"]) / double(b["run_peak_mb_per_rank"]);
      const double tr = double(a["step_time_s"]) / double(b["step_time_s"]);
      vs_plain.push_back({{"experts", a["experts"]},
                          {"mode", a["mode"]},
                          {"frozen_dtype", a["frozen_dtype"]},
                          {"precision", a["precision"]},
                          {"recompute", a["recompute"]},
                          {"memory_ratio_over_plain", mr},
                          {"run_memory_ratio_over_plain", rr},
                          {"time_ratio_over_plain", tr}});
      char line[256];
      std::snprintf(line, sizeof line,
                    "E=%-2lld %-5s frozen %-4s %-10s recompute %-9s / plain: peak memory %.3f "
                    "(run memory %.3f), step time %.3f",
                    (long long)a["experts"].get<int64_t>(), a["mode"].get<std::string>().c_str(),
                    a["frozen_dtype"].get<std::string>().c_str(),
                    a["precision"].get<std::string>().c_str(),
                    a["recompute"].get<std::string>().c_str(), mr, rr, tr);
      log::info0(line);
    }
  // Loader throughput (one thread, no prefetch) against what the fastest training run consumes.
  nlohmann::json loader_report;
  if (!o.data_dir.empty()) {
    const auto& cfg = runs.front();
    data::TokenDataset ds(o.data_dir, "train", "");
    data::LoaderOptions lo{cfg.train.micro_batch,
                           cfg.train.seq_len,
                           1,
                           world.rank(),
                           world.size(),
                           1,
                           ds.manifest().pad_id,
                           0,
                           false};
    data::Loader loader(ds, lo);
    const int64_t n = 200;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) loader.make_batch(i, 0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double loader_tps = double(n * cfg.train.micro_batch * cfg.train.seq_len) / s;
    double train_tps = 0;
    for (const auto& r : results)
      train_tps = std::max(train_tps, double(r["tokens_per_s"]) / world.size());
    loader_report = {{"dataset", o.data_dir},
                     {"loader_tokens_per_s_per_rank", loader_tps},
                     {"train_tokens_per_s_per_rank", train_tps},
                     {"loader_over_train", loader_tps / train_tps}};
    char line[200];
    std::snprintf(line, sizeof line,
                  "loader %.0f tok/s per rank vs training %.0f tok/s per rank: %.0fx", loader_tps,
                  train_tps, loader_tps / train_tps);
    log::info0(line);
  }
  nlohmann::json report = {{"bench", "mofe train step"},
                           {"blas", core::blas_library()},
                           {"peak_matmul_gflops_per_rank", peak / 1e9},
                           {"results", results},
                           {"mofe_vs_full", ratios},
                           {"vs_mofe", vs_mofe},
                           {"vs_plain", vs_plain},
                           {"loader", loader_report}};
  if (world.rank() == 0) {
    std::printf("%s\n", report.dump(2).c_str());
    if (!o.json_file.empty()) std::ofstream(o.json_file) << report.dump(2) << "\n";
  }
  return 0;
}

}  // namespace mofe::cli
