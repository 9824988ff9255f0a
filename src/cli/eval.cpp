// mofe eval: multiple-choice accuracy scored as lm-evaluation-harness scores it, alone or under
// mpirun/srun with the expert layout of training (documents split over the ranks, experts
// spread over the EP group). Reads any model mofe reads (checkpoint, run directory, mofe model,
// Hugging Face directory).
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "mofe/ckpt/open_model.h"
#include "mofe/cli/commands.h"
#include "mofe/core/device.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/data/tokenizer.h"
#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/eval/metrics.h"
#include "mofe/eval/scorer.h"
#include "mofe/peft/adapter_io.h"
#include "mofe/peft/policy.h"
#include "parse_args.h"

namespace po = boost::program_options;

namespace mofe::cli {

namespace {
using Clock = std::chrono::steady_clock;

struct EvalArgs {
  std::string model, adapter, task, data, fewshot_data, output, tokenizer, routing_report;
  int num_fewshot = 0;
  int64_t limit = 0, batch_tokens = 8192, max_length = 0;
  bool no_bos = false;
  config::ParallelConfig parallel;
  config::RuntimeConfig runtime;
};
}  // namespace

int run_eval(const Args& args, dist::MpiEnv& env) {
  EvalArgs a;
  bool help = false;
  po::options_description desc("mofe eval --model M --task T --data PATH [options]");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("model", po::value(&a.model), "checkpoint, run directory, mofe model or Hugging Face directory")
      ("adapter", po::value(&a.adapter), "a Hugging Face peft adapter (LoRA/DoRA) applied to the model")
      ("task", po::value(&a.task), "mmlu | medmcqa | pubmedqa | sujet-finance | mcq")
      ("data", po::value(&a.data), "the task's file (mmlu: a directory of <subject>_{dev,test}.csv or HF JSON lines)")
      ("num-fewshot", po::value(&a.num_fewshot)->default_value(0), "examples before each question")
      ("fewshot-data", po::value(&a.fewshot_data), "few-shot pool for tasks without a dev split")
      ("limit", po::value(&a.limit)->default_value(0), "score only the first N documents (0: all)")
      ("output", po::value(&a.output), "results JSON (lm-evaluation-harness shape)")
      ("routing-report", po::value(&a.routing_report), "CSV: share of tokens per layer and expert, by subject/domain")
      ("tokenizer", po::value(&a.tokenizer), "tokenizer.model (default: the model's)")
      ("no-bos", po::bool_switch(&a.no_bos), "do not start sequences with BOS")
      ("batch-tokens", po::value(&a.batch_tokens)->default_value(a.batch_tokens), "padded tokens per forward pass")
      ("max-length", po::value(&a.max_length)->default_value(0), "longest input; longer ones lose context from the left (0: the model's)")
      ("ep-size", po::value(&a.parallel.ep_size)->default_value(1), "ranks over which each layer's experts are spread")
      ("device", po::value(&a.runtime.device)->default_value("auto"), "auto | cpu | cuda")
      ("dtype", po::value(&a.runtime.dtype)->default_value("float32"), "float32 | float64")
      ("threads", po::value(&a.runtime.threads)->default_value(0), "intra-op threads per rank");
  // clang-format on
  eval::Task task;
  std::unique_ptr<io::ModelSource> src;
  std::unique_ptr<data::Tokenizer> tok;
  nlohmann::json adapters;  // what the model carries besides its base weights
  torch::Device device(torch::kCPU);
  const bool ok = agree_on_setup(
      [&] {
        const auto vm = parse_args(args, desc);
        if ((help = vm.count("help"))) return;
        if (a.model.empty() || a.task.empty() || a.data.empty())
          throw UsageError("mofe eval: give --model, --task and --data");
        if (a.num_fewshot < 0 || a.limit < 0 || a.batch_tokens < 1)
          throw UsageError("--num-fewshot, --limit and --batch-tokens must be non-negative");
        task = eval::load_task(a.task, a.data, a.fewshot_data);
        src = ckpt::open_model(a.model);
        adapters = src->adapters();
        if (!a.adapter.empty()) {
          if (!adapters.is_null())
            throw UsageError("--adapter: model '" + a.model + "' carries adapters already");
          config::PeftConfig peft;
          auto mode = config::TrainMode::kLora;
          peft::adopt_adapter_config(peft::read_adapter_config(a.adapter), peft, mode, {});
          adapters = {{"mode", config::to_string(mode)}, {"peft", peft.to_json()}};
          peft::check_adapter_file(a.adapter, src->config(),
                                   peft::inference_options(adapters, torch::kFloat));
        }
        a.parallel.resolve(env.world_size(), src->config().num_local_experts);
        a.runtime.validate();
        if (a.tokenizer.empty()) a.tokenizer = ckpt::find_tokenizer(a.model);
        if (a.tokenizer.empty())
          throw UsageError("no tokenizer.model found for model '" + a.model +
                           "'; give --tokenizer");
        tok = std::make_unique<data::Tokenizer>(a.tokenizer);
        if (tok->vocab_size() > src->config().vocab_size)
          throw UsageError("tokenizer '" + a.tokenizer + "' has " +
                           std::to_string(tok->vocab_size()) + " pieces but model '" + a.model +
                           "' a vocabulary of " + std::to_string(src->config().vocab_size) +
                           ": not the model's tokenizer");
        device = core::select_device(a.runtime, env.local_rank());
      },
      env);
  if (!ok) return kExitUsage;
  if (help) {
    print_help(desc);
    return 0;
  }
  const auto t0 = Clock::now();
  const int threads = core::configure_threads(a.runtime, env.local_size());
  const auto& cfg = src->config();
  auto world = dist::Communicator::world();
  auto groups = dist::ProcessGroups::build(world, a.parallel, cfg.num_local_experts);
  auto backend = dist::make_backend(a.runtime.comm, device);
  model::Transformer model(cfg, groups, *backend, peft::inference_options(adapters, torch::kFloat));
  io::load_into(*src, *model);
  if (!a.adapter.empty()) peft::load_adapter(a.adapter, *model);
  model->to(a.runtime.dtype == "float64" ? torch::kFloat64 : torch::kFloat32);
  model->to(device);

  // Documents: the first --limit, dealt round-robin over the ranks.
  const int64_t n_docs = a.limit > 0 ? std::min<int64_t>(a.limit, int64_t(task.docs.size()))
                                     : int64_t(task.docs.size());
  std::vector<int64_t> mine;
  for (int64_t d = world.rank(); d < n_docs; d += world.size()) mine.push_back(d);
  const int32_t bos = a.no_bos ? -1 : tok->bos_id();
  const int64_t max_len = a.max_length > 0 ? a.max_length : cfg.max_position_embeddings;
  const auto requests = eval::build_requests(
      task, mine, [&](const std::string& s) { return tok->encode(s); }, bos, a.num_fewshot,
      max_len);
  const int64_t total = world.all_reduce(int64_t(requests.size()), dist::Reduce::kSum);
  log::info0("eval: " + task.name + ", " + std::to_string(n_docs) + " documents, " +
             std::to_string(total) + " requests, " + std::to_string(a.num_fewshot) +
             "-shot, model " + src->path() + " (" + src->kind() + "), " +
             std::to_string(world.size()) + " ranks (ep " + std::to_string(a.parallel.ep_size) +
             "), " + std::to_string(threads) + " threads");

  // Routing counts [group][layer][expert] over real tokens of each document's first request.
  std::vector<std::string> group_names;
  std::map<std::string, size_t> group_index;
  for (int64_t d = 0; d < n_docs; ++d)
    if (group_index.emplace(task.docs[size_t(d)].group, group_names.size()).second)
      group_names.push_back(task.docs[size_t(d)].group);
  const int64_t L = cfg.num_hidden_layers, E = cfg.num_local_experts;
  std::vector<int64_t> routing(group_names.size() * size_t(L * E), 0);
  auto tokens_at = [&](size_t g, int64_t l, int64_t e) -> int64_t& {
    return routing[(g * size_t(L) + size_t(l)) * size_t(E) + size_t(e)];
  };
  auto share_at = [&](size_t g, int64_t l, int64_t e) {  // of layer l's token slots in group g
    int64_t sum = 0;
    for (int64_t x = 0; x < E; ++x) sum += tokens_at(g, l, x);
    return sum ? double(tokens_at(g, l, e)) / double(sum) : 0.0;
  };

  eval::ScoreOptions so;
  so.batch_tokens = a.batch_tokens;
  so.pad_id = tok->pad_id();
  auto last_print = Clock::now();
  so.progress = [&](int64_t done) {
    if (world.rank() != 0 || std::chrono::duration<double>(Clock::now() - last_print).count() < 2)
      return;
    last_print = Clock::now();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double est = double(done) / double(std::max<size_t>(1, requests.size())) * double(total);
    std::fprintf(stderr, "eval: ~%lld/%lld requests, %.1f req/s, ~%.0f s left\n", (long long)est,
                 (long long)total, est / s, (double(total) - est) / (est / s));
  };
  if (!a.routing_report.empty() && E > 0)
    so.routing = [&](const std::vector<torch::Tensor>& ids,
                     const std::vector<const eval::Request*>& rq,
                     const std::vector<int64_t>& lens) {
      for (size_t r = 0; r < rq.size(); ++r) {
        if (rq[r]->choice != 0) continue;  // count each document's tokens once
        const size_t g = group_index.at(task.docs[size_t(rq[r]->doc)].group);
        for (int64_t l = 0; l < L; ++l) {
          auto e = ids[size_t(l)][int64_t(r)].slice(0, 0, lens[r]).flatten().cpu();
          auto acc = e.accessor<int64_t, 1>();
          for (int64_t i = 0; i < e.size(0); ++i) tokens_at(g, l, acc[i])++;
        }
      }
    };
  const auto t_score = Clock::now();
  const auto ll = eval::score_requests(*model, requests, groups, device, so);
  const double scoring = std::chrono::duration<double>(Clock::now() - t_score).count();

  // Gather (doc, choice, loglik) on rank 0.
  std::vector<double> triples;
  for (size_t i = 0; i < requests.size(); ++i)
    triples.insert(triples.end(), {double(requests[i].doc), double(requests[i].choice), ll[i]});
  std::vector<double> all;
  for (const auto& bytes : world.gather(std::string(reinterpret_cast<const char*>(triples.data()),
                                                    triples.size() * sizeof(double)),
                                        0)) {
    const size_t at = all.size();
    all.resize(at + bytes.size() / sizeof(double));
    std::memcpy(all.data() + at, bytes.data(), bytes.size());
  }
  if (!routing.empty()) world.all_reduce(routing, dist::Reduce::kSum);
  const auto peaks = peak_rss_per_rank();
  if (world.rank() != 0) return 0;

  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  eval::Task scored = task;
  scored.docs.resize(size_t(n_docs));
  std::vector<std::vector<double>> per_doc(static_cast<size_t>(n_docs));
  for (size_t d = 0; d < size_t(n_docs); ++d)
    per_doc[d].assign(scored.docs[d].doc.choices.size(), 0);
  for (size_t i = 0; i + 2 < all.size(); i += 3)
    per_doc[size_t(all[i])][size_t(all[i + 1])] = all[i + 2];
  std::vector<eval::DocScore> scores;
  for (size_t d = 0; d < size_t(n_docs); ++d)
    scores.push_back(eval::score_doc(scored.docs[d], per_doc[d]));
  const auto rows = eval::aggregate_task(scored, scores);
  std::printf("%s", eval::results_table(rows).c_str());
  nlohmann::json j = eval::results_json(rows);
  j["config"] = {{"model", a.model},
                 {"model_kind", src->kind()},
                 {"model_checksum", src->checksum()},
                 {"task", a.task},
                 {"data", a.data},
                 {"num_fewshot", a.num_fewshot},
                 {"limit", a.limit},
                 {"bos", !a.no_bos},
                 {"tokenizer", a.tokenizer},
                 {"ranks", world.size()},
                 {"ep_size", a.parallel.ep_size},
                 {"dtype", a.runtime.dtype}};
  j["timing"] = {{"seconds", seconds},
                 {"scoring_seconds", scoring},
                 {"questions_per_s", double(n_docs) / seconds},
                 {"scoring_questions_per_s", double(n_docs) / scoring},
                 {"peak_rss_mb_per_rank", peaks}};
  j["predictions"] = nlohmann::json::array();
  for (size_t d = 0; d < size_t(n_docs); ++d)
    j["predictions"].push_back({{"doc", d},
                                {"origin", scored.docs[d].origin},
                                {"predicted", scores[d].predicted},
                                {"gold", scored.docs[d].doc.answer},
                                {"loglik", per_doc[d]}});
  if (!a.output.empty()) {
    std::ofstream out(a.output);
    out << j.dump(2) << "\n";
    if (!out) throw IoError("cannot write '" + a.output + "'");
  }
  if (!a.routing_report.empty() && E > 0) {
    std::ofstream csv(a.routing_report);
    csv << "group,layer,expert,tokens,share\n";
    for (size_t g = 0; g < group_names.size(); ++g)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t e = 0; e < E; ++e)
          csv << group_names[g] << "," << l << "," << e << "," << tokens_at(g, l, e) << ","
              << share_at(g, l, e) << "\n";
    if (!csv) throw IoError("cannot write '" + a.routing_report + "'");
    // Summary: per group, the share of each expert averaged over layers.
    std::printf("routing (share of token slots per expert, mean over layers):\n");
    for (size_t g = 0; g < group_names.size(); ++g) {
      std::printf("  %-24s", group_names[g].c_str());
      for (int64_t e = 0; e < E; ++e) {
        double share = 0;
        for (int64_t l = 0; l < L; ++l) share += share_at(g, l, e);
        std::printf(" e%lld %.2f", (long long)e, share / double(L));
      }
      std::printf("\n");
    }
  }
  nlohmann::json bench = {{"command", "eval"},
                          {"task", a.task},
                          {"questions", n_docs},
                          {"requests", total},
                          {"ranks", world.size()},
                          {"seconds", seconds},
                          {"questions_per_s", double(n_docs) / seconds},
                          {"scoring_questions_per_s", double(n_docs) / scoring},
                          {"acc", rows.at(task.name).acc}};
  std::printf("%s\n", bench.dump().c_str());
  return 0;
}

}  // namespace mofe::cli
