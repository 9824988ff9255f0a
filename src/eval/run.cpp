#include "mofe/eval/run.h"

#include "mofe/model/precision.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "mofe/ckpt/open_model.h"
#include "mofe/core/atomic_file.h"
#include "mofe/core/device.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/core/memory.h"
#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/eval/metrics.h"
#include "mofe/eval/request.h"
#include "mofe/eval/scorer.h"
#include "mofe/peft/adapter_io.h"
#include "mofe/peft/perft_io.h"
#include "mofe/peft/policy.h"

namespace mofe::eval {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ojson = nlohmann::ordered_json;

std::string sha256_hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr) != 1)
    throw Error("sha256 failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) out += hex[md[i] >> 4], out += hex[md[i] & 15];
  return out;
}

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A file that will be written at the end must be writable now, not after an hour of scoring.
void check_writable(const std::string& path, const std::string& option) {
  const fs::path parent = fs::absolute(path).parent_path();
  if (!fs::is_directory(parent))
    throw UsageError(option + ": cannot write '" + path + "': '" + parent.string() +
                     "' is not a directory");
  if (fs::is_directory(path)) throw UsageError(option + ": '" + path + "' is a directory");
  if (::access(parent.c_str(), W_OK) != 0 ||
      (fs::exists(path) && ::access(path.c_str(), W_OK) != 0))
    throw UsageError(option + ": cannot write '" + path + "' (permission denied)");
}

// Python's str() of what the harness logs: a float as repr (shortest round trip), a bool
// as True/False.
std::string py_str(double x) { return nlohmann::json(x).dump(); }

// Tokens per (group, layer, expert) that one kind of router sent, and their shares.
struct RoutingCounts {
  RoutingCounts(size_t groups, int64_t layers, int64_t experts)
      : L(layers), E(experts), counts(groups * size_t(layers * experts), 0) {}
  int64_t L, E;
  std::vector<int64_t> counts;
  int64_t& at(size_t g, int64_t l, int64_t e) {
    return counts[(g * size_t(L) + size_t(l)) * size_t(E) + size_t(e)];
  }
  double share(size_t g, int64_t l, int64_t e) {  // of layer l's token slots in group g
    int64_t sum = 0;
    for (int64_t x = 0; x < E; ++x) sum += at(g, l, x);
    return sum ? double(at(g, l, e)) / double(sum) : 0.0;
  }
  // ids [layer] x [B, S, K]: the first `len` positions of batch row `row`.
  void add(size_t g, const std::vector<torch::Tensor>& ids, int64_t row, int64_t len) {
    for (int64_t l = 0; l < L && size_t(l) < ids.size(); ++l) {
      auto e = ids[size_t(l)][row].slice(0, 0, len).flatten().cpu();
      auto acc = e.accessor<int64_t, 1>();
      for (int64_t i = 0; i < e.size(0); ++i) at(g, l, acc[i])++;
    }
  }
  std::string csv(const std::vector<std::string>& groups, const char* column) {
    std::string out = std::string("group,layer,") + column + ",tokens,share\n";
    for (size_t g = 0; g < groups.size(); ++g)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t e = 0; e < E; ++e)
          out += groups[g] + "," + std::to_string(l) + "," + std::to_string(e) + "," +
                 std::to_string(at(g, l, e)) + "," + py_str(share(g, l, e)) + "\n";
    return out;
  }
  // Per group, the share of each expert averaged over layers.
  void print(const std::string& title, const std::vector<std::string>& groups, const char* tag) {
    std::printf("%s\n", title.c_str());
    for (size_t g = 0; g < groups.size(); ++g) {
      std::printf("  %-24s", groups[g].c_str());
      for (int64_t e = 0; e < E; ++e) {
        double sum = 0;
        for (int64_t l = 0; l < L; ++l) sum += share(g, l, e);
        std::printf(" %s%lld %.2f", tag, (long long)e, sum / double(L));
      }
      std::printf("\n");
    }
  }
};

// routing.csv -> routing-adapters.csv: the PERFT-R adapter routers' report.
std::string adapter_report_path(const std::string& report) {
  const fs::path p(report);
  return (p.parent_path() / (p.stem().string() + "-adapters" + p.extension().string())).string();
}
std::string py_str(bool b) { return b ? "True" : "False"; }

// The harness's results-file timestamp, e.g. 2026-12-02T02-36-05.123456.
std::string harness_date() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  char buf[64];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%06lld", buf, static_cast<long long>(us));
  return out;
}

// What one task's scoring produced, on rank 0.
struct TaskResult {
  std::vector<int64_t> docs;                // scored, indices into task.docs
  std::vector<std::vector<double>> loglik;  // [docs][choice]
  std::vector<std::vector<char>> greedy;    // [docs][choice]
  std::vector<DocScore> scores;
  int64_t requests = 0, forward_tokens = 0, harness_tokens = 0, context_tokens = 0;
};

}  // namespace

EvalInputs open_inputs(EvalConfig& cfg, const dist::MpiEnv& env) {
  EvalInputs in;
  if (cfg.model.empty() || cfg.tasks.empty())
    throw UsageError("mofe eval: give --model, --task and --data");
  if (cfg.num_fewshot < 0 || cfg.batch_tokens < 1)
    throw UsageError("--num-fewshot must be >= 0 and --batch-tokens positive");
  if (!(cfg.limit >= 0) || !std::isfinite(cfg.limit) ||
      (cfg.limit >= 1 && cfg.limit != std::floor(cfg.limit)))
    throw UsageError(
        "--limit must be 0 (all), a count N >= 1 per subtask, or a fraction in "
        "(0, 1); got " +
        std::to_string(cfg.limit));
  std::set<std::string> names;
  for (const auto& t : cfg.tasks) {
    if (!names.insert(t.name).second) throw UsageError("--task: '" + t.name + "' given twice");
    if (t.data.empty()) throw UsageError("--task " + t.name + ": no --data for it");
  }
  if (cfg.log_samples && cfg.output.empty())
    throw UsageError("--log-samples writes beside the results file: give --output too");
  if (!cfg.output.empty()) check_writable(cfg.output, "--output");
  if (!cfg.routing_report.empty()) check_writable(cfg.routing_report, "--routing-report");
  for (const auto& t : cfg.tasks) {
    in.tasks.push_back(load_task(t.name, t.data, t.fewshot_data));
    check_fewshot(in.tasks.back(), cfg.num_fewshot);
  }
  in.model = ckpt::open_model(cfg.model);
  in.adapters = in.model->adapters();
  if (!cfg.adapter.empty()) {
    if (!in.adapters.is_null())
      throw UsageError("--adapter: model '" + cfg.model + "' carries adapters already");
    if (peft::is_perft_dir(cfg.adapter)) {  // PERFT adapters, checked against the model
      in.adapters = peft::read_perft_dir(cfg.adapter, in.model->config());
    } else {
      config::PeftConfig peft;
      auto mode = config::TrainMode::kLora;
      peft::adopt_adapter_config(peft::read_adapter_config(cfg.adapter), peft, mode, {});
      in.adapters = {{"mode", config::to_string(mode)}, {"peft", peft.to_json()}};
      peft::check_adapter_file(
          cfg.adapter, in.model->config(),
          peft::inference_options(in.adapters, in.model->config(), torch::kFloat));
    }
  }
  cfg.parallel.resolve(env.world_size(), in.model->config().num_local_experts);
  cfg.runtime.validate();
  const int64_t positions = in.model->config().max_position_embeddings;
  if (cfg.max_length != 0 && (cfg.max_length < 2 || cfg.max_length > positions))
    throw UsageError("--max-length " + std::to_string(cfg.max_length) +
                     " must be between 2 and the model's max_position_embeddings (" +
                     std::to_string(positions) + "), or 0 for that");
  if (cfg.tokenizer.empty()) cfg.tokenizer = ckpt::find_tokenizer(cfg.model);
  if (cfg.tokenizer.empty())
    throw UsageError("no tokenizer.model found for model '" + cfg.model + "'; give --tokenizer");
  in.tokenizer = std::make_unique<data::Tokenizer>(cfg.tokenizer);
  if (in.tokenizer->vocab_size() > in.model->config().vocab_size)
    throw UsageError("tokenizer '" + cfg.tokenizer + "' has " +
                     std::to_string(in.tokenizer->vocab_size()) + " pieces but model '" +
                     cfg.model + "' a vocabulary of " +
                     std::to_string(in.model->config().vocab_size) + ": not the model's tokenizer");
  in.device = core::select_device(cfg.runtime, env.local_rank());
  model::check_precision_supported(cfg.runtime.precision, in.device);
  return in;
}

int run(const EvalConfig& cfg, EvalInputs& in, dist::MpiEnv& env) {
  const auto t0 = Clock::now();
  const int threads = core::configure_threads(cfg.runtime, env.local_size());
  const auto& mcfg = in.model->config();
  auto world = dist::Communicator::world();
  auto groups = dist::ProcessGroups::build(world, cfg.parallel, mcfg.num_local_experts);
  auto backend = dist::make_backend(cfg.runtime.comm, in.device);
  const auto build = peft::inference_options(in.adapters, mcfg, torch::kFloat);
  model::Transformer model(mcfg, groups, *backend, build);
  io::load_into(*in.model, *model);
  if (!cfg.adapter.empty()) {
    if (build.perft.any())
      peft::load_perft(cfg.adapter, *model);
    else
      peft::load_adapter(cfg.adapter, *model);
  }
  model->to(cfg.runtime.dtype == "float64" ? torch::kFloat64 : torch::kFloat32);
  model->to(in.device);
  // bf16-mixed: 16-bit activations and matmuls, float32 statistics and log-softmax, as in
  // training (model/precision.h); the weights stay as loaded.
  if (cfg.runtime.mixed()) model->set_compute_dtype(model::compute_dtype(cfg.runtime.precision));
  const int32_t bos = cfg.no_bos ? -1 : in.tokenizer->bos_id();
  const int64_t max_len = cfg.max_length > 0 ? cfg.max_length : mcfg.max_position_embeddings;
  auto encode = [&](const std::string& s) { return in.tokenizer->encode(s); };

  // Routing counts [group][layer][expert] over the real tokens of each document's first request,
  // for the MoE's routers and (PERFT-R) the adapter routers.
  const int64_t L = mcfg.num_hidden_layers, E = mcfg.num_local_experts;
  std::vector<std::string> group_names;
  std::map<std::string, size_t> group_index;
  for (const auto& t : in.tasks)
    for (const auto& d : t.docs)
      if (group_index.emplace(d.group, group_names.size()).second) group_names.push_back(d.group);
  const bool report = !cfg.routing_report.empty() && E > 0;
  const int64_t Na =
      build.perft.variant == model::PerftSpec::Variant::kRouted ? build.perft.adapters : 0;
  RoutingCounts routing(report ? group_names.size() : 0, L, E);
  RoutingCounts adapter_routing(report && Na > 0 ? group_names.size() : 0, L, Na);
  std::vector<TaskResult> results(in.tasks.size());
  double scoring = 0;
  int64_t questions = 0, requests_total = 0;
  for (size_t ti = 0; ti < in.tasks.size(); ++ti) {
    const Task& task = in.tasks[ti];
    TaskResult& res = results[ti];
    res.docs = select_docs(task, cfg.limit);
    std::vector<int64_t> mine;  // dealt round-robin over the ranks
    for (size_t i = size_t(world.rank()); i < res.docs.size(); i += size_t(world.size()))
      mine.push_back(res.docs[i]);
    const auto requests = build_requests(task, mine, encode, bos, cfg.num_fewshot, max_len);
    // What the harness computes for these requests: each distinct input (context and the
    // continuation but its last token) once; and the context tokens, once per question.
    int64_t harness = 0, context = 0;
    {
      std::set<std::pair<int64_t, std::vector<int32_t>>> inputs;
      std::set<int64_t> seen;
      for (const auto& r : requests) {
        if (inputs.insert({r.doc, {r.tokens.begin(), r.tokens.end() - 1}}).second)
          harness += int64_t(r.tokens.size()) - 1;
        if (seen.insert(r.doc).second) context += r.context_len;
      }
    }
    const int64_t total = world.all_reduce(int64_t(requests.size()), dist::Reduce::kSum);
    log::info0("eval: " + task.name + " (" + task.layout + "), " + std::to_string(res.docs.size()) +
               " of " + std::to_string(task.docs.size()) + " documents, " + std::to_string(total) +
               " requests, " + std::to_string(cfg.num_fewshot) + "-shot, model " +
               in.model->path() + " (" + in.model->kind() + "), " + std::to_string(world.size()) +
               " ranks (ep " + std::to_string(cfg.parallel.ep_size) + "), " +
               std::to_string(threads) + " threads");
    ScoreOptions so;
    so.batch_tokens = cfg.batch_tokens;
    so.pad_id = in.tokenizer->pad_id();
    so.share_context = cfg.share_context;
    auto last_print = Clock::now();
    const auto t_task = Clock::now();
    so.progress = [&](int64_t done) {
      if (world.rank() != 0 || seconds_since(last_print) < 2) return;
      last_print = Clock::now();
      const double s = seconds_since(t_task);
      const double est =
          double(done) / double(std::max<size_t>(1, requests.size())) * double(total);
      std::fprintf(stderr, "eval: %s ~%lld/%lld requests, %.1f req/s, ~%.0f s left\n",
                   task.name.c_str(), (long long)est, (long long)total, est / s,
                   (double(total) - est) / (est / s));
    };
    if (report)
      so.routing = [&](const std::vector<torch::Tensor>& ids,
                       const std::vector<torch::Tensor>& adapter_ids,
                       const std::vector<const Request*>& rq, const std::vector<int64_t>& lens) {
        for (size_t r = 0; r < rq.size(); ++r) {
          const size_t g = group_index.at(task.docs[size_t(rq[r]->doc)].group);
          routing.add(g, ids, int64_t(r), lens[r]);
          if (Na > 0) adapter_routing.add(g, adapter_ids, int64_t(r), lens[r]);
        }
      };
    const auto t_score = Clock::now();
    const Scores sc = score_requests(*model, requests, groups, in.device, so);
    scoring += seconds_since(t_score);

    // Gather (doc, choice, loglik, greedy) and the token counts on rank 0.
    std::vector<double> quads;
    for (size_t i = 0; i < requests.size(); ++i)
      quads.insert(quads.end(), {double(requests[i].doc), double(requests[i].choice), sc.loglik[i],
                                 double(sc.greedy[i])});
    std::vector<int64_t> counts = {int64_t(requests.size()), sc.forward_tokens, harness, context};
    world.all_reduce(counts, dist::Reduce::kSum);
    res.requests = counts[0], res.forward_tokens = counts[1], res.harness_tokens = counts[2],
    res.context_tokens = counts[3];
    const auto parts = world.gather(
        std::string(reinterpret_cast<const char*>(quads.data()), quads.size() * sizeof(double)), 0);
    questions += int64_t(res.docs.size());
    requests_total += res.requests;
    if (world.rank() != 0) continue;
    std::map<int64_t, size_t> slot;
    for (size_t i = 0; i < res.docs.size(); ++i) slot[res.docs[i]] = i;
    res.loglik.resize(res.docs.size());
    res.greedy.resize(res.docs.size());
    for (size_t i = 0; i < res.docs.size(); ++i) {
      const size_t nc = task.docs[size_t(res.docs[i])].doc.choices.size();
      res.loglik[i].assign(nc, 0);
      res.greedy[i].assign(nc, 0);
    }
    for (const auto& bytes : parts) {
      std::vector<double> q(bytes.size() / sizeof(double));
      std::memcpy(q.data(), bytes.data(), bytes.size());
      for (size_t i = 0; i + 3 < q.size(); i += 4) {
        const size_t d = slot.at(int64_t(q[i]));
        res.loglik[d][size_t(q[i + 1])] = q[i + 2];
        res.greedy[d][size_t(q[i + 1])] = q[i + 3] != 0;
      }
    }
    // A NaN or infinite score ranks nothing: no accuracy comes from it (broken weights or eps).
    for (size_t d = 0; d < res.docs.size(); ++d)
      for (size_t c = 0; c < res.loglik[d].size(); ++c)
        if (!std::isfinite(res.loglik[d][c]))
          throw InputError(task.docs[size_t(res.docs[d])].origin +
                           ": the log-likelihood of choice " + std::to_string(c) + " is " +
                           std::to_string(res.loglik[d][c]) +
                           ": the model computes non-finite scores (its weights or config are "
                           "broken), no accuracy can come from them");
    for (size_t d = 0; d < res.docs.size(); ++d)
      res.scores.push_back(score_doc(task.docs[size_t(res.docs[d])], res.loglik[d]));
  }
  if (!routing.counts.empty()) world.all_reduce(routing.counts, dist::Reduce::kSum);
  if (!adapter_routing.counts.empty()) world.all_reduce(adapter_routing.counts, dist::Reduce::kSum);
  const std::vector<double> peaks = world.all_gather(core::peak_rss_mb());
  if (world.rank() != 0) return 0;

  const double seconds = seconds_since(t0);
  std::vector<TaskRun> runs;
  for (size_t ti = 0; ti < in.tasks.size(); ++ti)
    runs.push_back({&in.tasks[ti], task_rows(in.tasks[ti], results[ti].docs, results[ti].scores),
                    cfg.num_fewshot});
  std::printf("%s", results_table(runs).c_str());

  const std::string date = harness_date();
  ojson j = results_json(runs);
  std::string task_list;
  for (const auto& t : cfg.tasks) task_list += (task_list.empty() ? "" : ",") + t.name;
  j["config"] = {{"model", "mofe"},
                 {"model_args", "pretrained=" + cfg.model},
                 {"batch_size", "auto"},
                 {"device", in.device.str()},
                 {"limit", cfg.limit > 0 ? ojson(cfg.limit) : ojson(nullptr)},
                 {"bootstrap_iters", 0},
                 {"random_seed", 0},
                 {"numpy_seed", 1234},
                 {"torch_seed", 1234},
                 {"fewshot_seed", 1234},
                 {"mofe",
                  {{"model_kind", in.model->kind()},
                   {"model_checksum", in.model->checksum()},
                   {"tasks", task_list},
                   {"num_fewshot", cfg.num_fewshot},
                   {"bos", !cfg.no_bos},
                   {"shared_context", cfg.share_context},
                   {"tokenizer", cfg.tokenizer},
                   {"ranks", world.size()},
                   {"ep_size", cfg.parallel.ep_size},
                   {"dtype", cfg.runtime.dtype},
                   {"version", "0.1.0"}}}};
  j["git_hash"] = nullptr;
  j["date"] = double(std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()) *
              1e-6;
  j["model_name"] = cfg.model;
  j["total_evaluation_time_seconds"] = std::to_string(seconds);
  // mofe's own: timing and per-document predictions with their log-likelihoods.
  ojson preds = ojson::array();
  for (size_t ti = 0; ti < in.tasks.size(); ++ti)
    for (size_t d = 0; d < results[ti].docs.size(); ++d) {
      const auto& doc = in.tasks[ti].docs[size_t(results[ti].docs[d])];
      preds.push_back({{"task", in.tasks[ti].name},
                       {"doc", results[ti].docs[d]},
                       {"origin", doc.origin},
                       {"predicted", results[ti].scores[d].predicted},
                       {"gold", doc.doc.answer},
                       {"loglik", results[ti].loglik[d]}});
    }
  int64_t fwd = 0, har = 0, ctx = 0;
  for (const auto& r : results)
    fwd += r.forward_tokens, har += r.harness_tokens, ctx += r.context_tokens;
  j["mofe"] = {{"timing",
                {{"seconds", seconds},
                 {"scoring_seconds", scoring},
                 {"questions_per_s", double(questions) / seconds},
                 {"scoring_questions_per_s", double(questions) / scoring},
                 {"peak_rss_mb_per_rank", peaks}}},
               {"predictions", preds}};
  if (!cfg.output.empty()) {
    core::write_file_atomic(cfg.output, j.dump(2) + "\n");
    if (cfg.log_samples) {
      const fs::path dir = fs::absolute(cfg.output).parent_path();
      for (size_t ti = 0; ti < in.tasks.size(); ++ti) {
        const Task& task = in.tasks[ti];
        std::map<std::string, std::string> lines;  // per subtask
        std::map<std::string, int64_t> next_id;
        for (size_t d = 0; d < results[ti].docs.size(); ++d) {
          const EvalDoc& doc = task.docs[size_t(results[ti].docs[d])];
          const std::string sub = subtask_of(task, doc);
          const std::string context = build_context(task, doc, cfg.num_fewshot);
          ojson docj = {{"question", doc.doc.question}};
          if (!doc.doc.subject.empty()) docj["subject"] = doc.doc.subject;
          docj["choices"] = doc.doc.options.empty() ? doc.doc.choices : doc.doc.options;
          docj["answer"] = doc.doc.answer;
          const ojson target = doc.tmpl == data::McqTemplate::kPubmedqa
                                   ? ojson(doc.doc.choices[size_t(doc.doc.answer)])
                                   : ojson(doc.doc.answer);
          ojson args = ojson::object(), resps = ojson::array(), filtered = ojson::array();
          for (size_t c = 0; c < doc.doc.choices.size(); ++c) {
            args["gen_args_" + std::to_string(c)] = {{"arg_0", context},
                                                     {"arg_1", " " + doc.doc.choices[c]}};
            const ojson pair = {py_str(results[ti].loglik[d][c]),
                                py_str(bool(results[ti].greedy[d][c]))};
            resps.push_back(ojson::array({pair}));
            filtered.push_back(pair);
          }
          const auto& s = results[ti].scores[d];
          ojson line = {{"doc_id", next_id[sub]++},
                        {"doc", docj},
                        {"target", target},
                        {"arguments", args},
                        {"resps", resps},
                        {"filtered_resps", filtered},
                        {"filter", "none"},
                        {"metrics", {"acc", "acc_norm"}},
                        {"doc_hash", sha256_hex(docj.dump(2))},
                        {"prompt_hash", sha256_hex(context)},
                        {"target_hash", sha256_hex(target.is_string() ? target.get<std::string>()
                                                                      : target.dump())},
                        {"acc", s.acc ? 1.0 : 0.0},
                        {"acc_norm", s.acc_norm ? 1.0 : 0.0}};
          lines[sub] += line.dump() + "\n";
        }
        for (const auto& [sub, text] : lines)
          core::write_file_atomic(dir / ("samples_" + sub + "_" + date + ".jsonl"), text);
      }
    }
  }
  if (report) {
    core::write_file_atomic(cfg.routing_report, routing.csv(group_names, "expert"));
    routing.print("routing (share of token slots per expert, mean over layers):", group_names, "e");
    if (Na > 0) {  // PERFT-R: the adapter routers, next to it
      const std::string file = adapter_report_path(cfg.routing_report);
      core::write_file_atomic(file, adapter_routing.csv(group_names, "adapter"));
      adapter_routing.print(
          "adapter routing (PERFT-R, share of token slots per adapter, mean over "
          "layers; " +
              file + "):",
          group_names, "a");
    }
  }
  // The benchmark line: throughput, and the forward tokens per question against the
  // harness's count for the same requests and the context length.
  const auto& first = runs.front().rows.front();
  nlohmann::ordered_json bench = {
      {"command", "eval"},
      {"tasks", task_list},
      {"questions", questions},
      {"requests", requests_total},
      {"ranks", world.size()},
      {"shared_context", cfg.share_context},
      {"seconds", seconds},
      {"questions_per_s", double(questions) / seconds},
      {"scoring_questions_per_s", double(questions) / scoring},
      {"forward_tokens_per_question", double(fwd) / double(std::max<int64_t>(1, questions))},
      {"harness_tokens_per_question", double(har) / double(std::max<int64_t>(1, questions))},
      {"context_tokens_per_question", double(ctx) / double(std::max<int64_t>(1, questions))},
      {"acc", first.acc.value}};
  std::printf("%s\n", bench.dump().c_str());
  return 0;
}

}  // namespace mofe::eval
