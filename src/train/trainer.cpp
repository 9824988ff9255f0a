#include "mofe/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "mofe/ckpt/checkpoint.h"
#include "mofe/ckpt/open_model.h"
#include "mofe/core/atomic_file.h"
#include "mofe/core/device.h"
#include "mofe/core/error.h"
#include "mofe/core/fault.h"
#include "mofe/core/log.h"
#include "mofe/data/dataset.h"
#include "mofe/data/loader.h"
#include "mofe/data/synthetic.h"
#include "mofe/data/tokenizer.h"
#include "mofe/model/lm_loss.h"
#include "mofe/model/param_count.h"
#include "mofe/model/precision.h"
#include "mofe/peft/adapter_io.h"
#include "mofe/peft/policy.h"
#include "mofe/train/grad_clip.h"
#include "mofe/train/lr_schedule.h"
#include "mofe/train/optimizer.h"
#include "mofe/train/run_lock.h"
#include "mofe/train/stop_signal.h"
#include "mofe/train/watchdog.h"

namespace mofe::train {

namespace {
using Clock = std::chrono::steady_clock;

// A run that starts at step `start` continues a metrics file whose lines describe steps
// 1..start: the lines of steps after it (written before a crash, never checkpointed) go, so
// the file reads 1, 2, ..., never 1..5, 4, 5, 6. Rewritten aside and renamed.
void truncate_metrics(const std::string& path, int64_t start) {
  namespace fs = std::filesystem;
  if (start == 0) {
    fs::remove(path);
    return;
  }
  std::ifstream in(path);
  if (!in) return;
  core::write_file_atomic(path, [&](std::ostream& out) {
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("step", int64_t(0)) <= start) out << line << "\n";
    }
  });
}

torch::ScalarType dtype_of(const std::string& name) {
  return name == "float64" ? torch::kFloat64 : torch::kFloat32;
}

std::optional<torch::ScalarType> wire_dtype(const config::RuntimeConfig& rt) {
  if (rt.grad_reduce_dtype == "bf16") return torch::kBFloat16;
  return std::nullopt;
}
}  // namespace

Trainer::Trainer(const config::RunConfig& cfg, const dist::ProcessGroups& groups,
                 dist::CommBackend& backend, torch::Device device)
    : cfg_(cfg),
      groups_(groups),
      backend_(backend),
      device_(device),
      dtype_(dtype_of(cfg.runtime.dtype)),
      compute_dtype_(cfg.runtime.mixed() ? model::compute_dtype(cfg.runtime.precision) : dtype_),
      grad_sync_(groups, backend, 32 << 20, wire_dtype(cfg.runtime)),
      scaler_(cfg.runtime.initial_loss_scale(), cfg.runtime.dynamic_loss_scale(),
              cfg.runtime.loss_scale_window) {
  model_ = model::Transformer(cfg.model, groups, backend,
                              peft::build_options(cfg.train, cfg.peft, cfg.model, compute_dtype_));
  model_->to(dtype_);
  init_source_ = weight_source(cfg);
  // Where the weights (and so the frozen ones) come from: checkpoints record it instead of
  // rewriting frozen weights, and verify it when read back. A model source sets every
  // weight (load_into refuses a missing one), so the seeded initialisation is skipped then.
  int64_t adapters_loaded = 0;
  if (init_source_["source"] == "init") {
    model::init_weights(*model_, cfg.train.seed);
  } else {
    auto src = ckpt::open_model(cfg.train.init_model);
    adapters_loaded = io::load_into(*src, *model_);
  }
  // Adapters start as peft starts them (B = 0: the base model's function), unless the model
  // source (a PEFT checkpoint) held them; then --adapter may replace them.
  if (adapters_loaded == 0) model::init_adapters(*model_, cfg.train.seed);
  if (!cfg.peft.adapter.empty()) peft::load_adapter(cfg.peft.adapter, *model_);
  model_->to(device_);
  // Mixed precision: parameters stay the float32 masters, activations and frozen compressed
  // weights run in the 16-bit compute dtype (model/precision.h).
  if (cfg.runtime.mixed()) model_->set_compute_dtype(compute_dtype_);
  model_->set_recompute(cfg.train.recompute_level());
  params_ = apply_freezing(*model_, cfg.train, cfg.peft);
  optimizer_ = make_optimizer(params_, cfg.train);
}

std::vector<std::unique_ptr<RunLock>> lock_run(const config::RunConfig& cfg) {
  std::vector<std::unique_ptr<RunLock>> locks;
  namespace fs = std::filesystem;
  const auto& ck = cfg.checkpoint;
  locks.push_back(std::make_unique<RunLock>(cfg.train.out_dir, ck.break_lock, "run directory"));
  std::filesystem::create_directories(ck.dir);
  if (fs::weakly_canonical(ck.dir) != fs::weakly_canonical(cfg.train.out_dir))
    locks.push_back(std::make_unique<RunLock>(ck.dir, ck.break_lock, "checkpoint directory"));
  ckpt::clean_unpublished(ck.dir);
  return locks;
}

nlohmann::json weight_source(const config::RunConfig& cfg) {
  if (cfg.train.init_model.empty() || cfg.train.init_model == "dense")
    return {{"source", "init"}, {"seed", cfg.train.seed}};
  auto src = ckpt::open_model(cfg.train.init_model);
  return {{"source", "model"},
          {"path", std::filesystem::absolute(cfg.train.init_model).string()},
          {"kind", src->kind()},
          {"checksum", src->checksum()}};
}

ckpt::TrainState Trainer::train_state(bool with_frozen) {
  ckpt::TrainState st;
  for (const auto* group : {&params_.dense, &params_.experts})
    for (size_t i = 0; i < group->params.size(); ++i) {
      ckpt::StateTensor t{group->names[i], group->roles[i], group->params[i]};
      if (auto* s = optimizer_->state_of(group->params[i])) {
        t.exp_avg = &s->exp_avg;
        t.exp_avg_sq = &s->exp_avg_sq;
      }
      st.tensors.push_back(std::move(t));
    }
  if (with_frozen)
    for (const auto& e : model_->params().entries())
      if (!e.trainable())
        st.tensors.push_back({e.name, e.role, e.value(), nullptr, nullptr, false});
  st.optimizer_steps = optimizer_->steps_counter();
  st.samples = &samples_;
  st.loss_scaler = scaler_.state();
  st.provenance = init_source_;
  return st;
}

void Trainer::lap(double* slot) {
  if (time_phases_) core::synchronize(device_);
  const auto now = Clock::now();
  if (slot) *slot += std::chrono::duration<double>(now - last_lap_).count();
  last_lap_ = now;
}

std::pair<double, double> Trainer::forward_backward(const std::vector<data::Batch>& micro_batches,
                                                    std::vector<std::vector<int64_t>>* rows,
                                                    int64_t* global_input_tokens) {
  // Global loss-token count first: every micro-batch's loss is divided by it, so the summed
  // gradient is the gradient of the mean over the whole global batch.
  // One all-reduce carries the processed-token count (for tokens/s) along.
  std::vector<int64_t> tokens{0, 0};
  for (const auto& b : micro_batches)
    tokens[0] += b.loss_tokens, tokens[1] += b.input_ids_BS.numel();
  backend_.all_reduce_host(tokens, groups_.world);
  if (global_input_tokens) *global_input_tokens = tokens[1];
  const double global_tokens = double(std::max<int64_t>(1, tokens[0]));
  const double accum = double(micro_batches.size());
  const double aux_coef = cfg_.model.is_moe() ? cfg_.model.router_aux_loss_coef : 0.0;
  const double adapter_aux_coef =
      cfg_.train.mode == config::TrainMode::kPerftR ? cfg_.peft.perft_aux_coef : 0.0;

  // A plain head (trainable or frozen, no adapter, not tied) is applied inside the loss, which
  // never holds [T, V] logits or their gradient whole (model/lm_loss.h).
  const auto& head = model_->lm_head;
  const bool fused_head = head && head->weight.defined() && !head->adapter();
  // Loss sum and aux share, accumulated in float64 on the device and read back once after the
  // loop (a read per micro-batch would make the host wait for each backward on a GPU); the
  // same additions in the same order as summing on the host.
  torch::Tensor loss_acc, aux_acc;
  auto accumulate = [](torch::Tensor& acc, const torch::Tensor& x) {
    acc = acc.defined() ? acc + x : x;
  };
  lap(&phases_.sync_s);  // the token count's all-reduce
  for (const auto& b : micro_batches) {
    auto out = model_->forward(b.input_ids_BS.to(device_), !fused_head);
    auto targets = b.targets_BS.to(device_);
    auto loss_sum = fused_head ? model::head_loss_sum(out.h_BSD, head->weight, targets)
                               : model::lm_loss_sum(out.logits_BSV, targets);
    auto loss = loss_sum / global_tokens + out.aux_loss * (aux_coef / accum);
    if (adapter_aux_coef > 0) loss = loss + out.adapter_aux_loss * (adapter_aux_coef / accum);
    if (scaler_.enabled()) loss = loss * scaler_.scale();
    if (inject_nan_) {  // MOFE_FAULT=loss:nan: poisons the loss and, through backward, the grads
      loss_sum = loss_sum * std::nan("");
      loss = loss * std::nan("");
    }
    lap(&phases_.forward_s);
    loss.backward();
    lap(&phases_.backward_s);
    accumulate(loss_acc, loss_sum.detach().to(torch::kDouble));
    accumulate(aux_acc, out.aux_loss.detach().to(torch::kDouble) / accum);
    if (rows) {
      if (rows->empty()) rows->resize(out.rows_per_expert.size());
      for (size_t l = 0; l < out.rows_per_expert.size(); ++l) {
        auto& acc = (*rows)[l];
        if (acc.empty()) acc.assign(out.rows_per_expert[l].size(), 0);
        for (size_t e = 0; e < acc.size(); ++e) acc[e] += out.rows_per_expert[l][e];
      }
    }
  }
  if (inject_inf_) {  // MOFE_FAULT=grad:inf: one element of this rank's gradients overflows
    torch::NoGradGuard no_grad;
    auto& p = params_.dense.params.empty() ? params_.experts.params.front()
                                           : params_.dense.params.front();
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    p.mutable_grad().view({-1})[0] = std::numeric_limits<double>::infinity();
  }
  std::vector<double> sums{0.0, 0.0};  // [loss sum, aux share]
  if (loss_acc.defined()) {
    const auto both = torch::stack({loss_acc, aux_acc}).cpu();
    sums = {both[0].item<double>(), both[1].item<double>()};
  }
  grad_sync_.sync(params_);
  backend_.all_reduce_host(sums, groups_.world);
  lap(&phases_.sync_s);
  return {sums[0] / global_tokens, sums[1]};
}

StepStats Trainer::train_step(const std::vector<data::Batch>& micro_batches, int64_t step) {
  const auto t0 = Clock::now();
  phases_ = {};
  lap(nullptr);
  optimizer_->zero_grad();
  lap(&phases_.zero_s);
  StepStats s;
  s.step = step + 1;
  inject_nan_ = fault::nan_loss(step + 1);
  inject_inf_ = fault::inf_grad(step + 1);
  s.loss_scale = scaler_.enabled() ? scaler_.scale() : 0.0;
  std::tie(s.loss, s.aux_loss) = forward_backward(micro_batches, &s.rows_per_expert, &s.tokens);
  // Under loss scaling the summed gradients come back to the loss's own scale through the clip
  // factor, which the optimizer applies as it reads them.
  const Clip clip =
      clip_grad_norm(params_, cfg_.train.clip_grad, groups_, backend_, scaler_.scale());
  s.grad_norm = clip.norm;
  lap(&phases_.clip_s);
  s.lr = learning_rate(cfg_.train, step);
  // Loss and norm are global, so every rank makes the same decision.
  inject_nan_ = inject_inf_ = false;
  s.skipped = !std::isfinite(s.loss) || !std::isfinite(s.grad_norm);
  // An overflow under a dynamic scale: the step is skipped and the scale halved on every rank
  // (the norm is global, so all ranks decide alike).
  s.overflow = scaler_.dynamic() && std::isfinite(s.loss) && !std::isfinite(s.grad_norm);
  scaler_.update(!s.skipped);
  if (!s.skipped) {
    optimizer_->set_lr(s.lr);
    optimizer_->step(clip.scale);
  }
  core::synchronize(device_);  // so the step time includes queued device work
  lap(&phases_.optimizer_s);
  s.phases = phases_;
  s.step_time_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return s;
}

Trainer::RunResult Trainer::run() {
  const auto& t = cfg_.train;
  const auto& ck = cfg_.checkpoint;
  // The caller holds the locks of the run and checkpoint directories (lock_run) and has
  // removed what a killed run left unpublished.
  groups_.world.barrier();
  auto state = train_state();
  const int64_t start = ckpt::restore(ck, state, groups_);
  if (groups_.world.rank() == 0) {
    std::ofstream(t.out_dir + "/config.json") << cfg_.to_json().dump(2) << "\n";
    truncate_metrics(t.metrics_file, start);
  }
  groups_.world.barrier();
  install_stop_handlers();
  MetricsLogger logger(groups_.world.rank() == 0, t.metrics_file, t.steps, start,
                       config::to_string(t.mode));

  const int64_t world = groups_.world.size(), rank = groups_.world.rank();
  // The batches of step s on this rank: from the dataset's loader or the synthetic language.
  std::function<std::vector<data::Batch>(int64_t)> next_batches;
  std::unique_ptr<data::TokenDataset> dataset;
  std::unique_ptr<data::Loader> loader;
  std::unique_ptr<data::SyntheticLanguage> language;
  if (cfg_.data.source == "synthetic") {
    language = std::make_unique<data::SyntheticLanguage>(cfg_.model.vocab_size, cfg_.data.branching,
                                                         cfg_.data.seed);
    log::info0("data: synthetic Markov language, vocab " + std::to_string(cfg_.model.vocab_size) +
               ", " + std::to_string(cfg_.data.branching) + " successors per token, loss floor ~" +
               std::to_string(language->entropy_nats()) + " nats");
    next_batches = [&](int64_t) {
      // Global sample index: the step starts at the samples consumed so far; micro-step m of
      // rank r reads a contiguous slice of the global batch, so the samples of a step depend
      // neither on the layout nor, after a resume, on the global batch of the run before.
      std::vector<data::Batch> micro;
      for (int64_t m = 0; m < t.grad_accum; ++m) {
        const int64_t first = samples_ + (m * world + rank) * t.micro_batch;
        micro.push_back(language->batch(first, t.micro_batch, t.seq_len));
      }
      return micro;
    };
  } else {
    const std::string expected =
        cfg_.data.tokenizer.empty() ? "" : data::file_checksum(cfg_.data.tokenizer);
    dataset = std::make_unique<data::TokenDataset>(cfg_.data.source, "train", expected);
    const auto& m = dataset->manifest();
    if (m.vocab_size > cfg_.model.vocab_size)
      throw UsageError("dataset '" + cfg_.data.source + "' has vocabulary " +
                       std::to_string(m.vocab_size) + " > model vocab_size " +
                       std::to_string(cfg_.model.vocab_size));
    data::LoaderOptions lo{t.micro_batch, t.seq_len, t.grad_accum,       int(rank),      int(world),
                           t.seed,        m.pad_id,  cfg_.data.prefetch, cfg_.data.pack, samples_};
    loader = std::make_unique<data::Loader>(*dataset, lo, start);
    log::info0("data: " + cfg_.data.source + ", " + std::to_string(dataset->size()) +
               " training samples, tokenizer " + m.tokenizer_checksum);
    next_batches = [&](int64_t) { return loader->next_step(); };
  }

  Watchdog watchdog(cfg_.runtime.step_timeout, cfg_.runtime.watchdog_floor);
  RunResult result;
  int64_t bad_in_row = 0;
  std::string last_checkpoint = "none";
  for (int64_t step = start; step < t.steps; ++step) {
    log::identity().step = step + 1;  // counted from 1, as the progress lines count
    watchdog.beat();
    fault::at("step", step + 1);
    StepStats& last = result.last = train_step(next_batches(step), step);
    samples_ += t.micro_batch * t.grad_accum * world;
    const bool print = (step == start) || ((step + 1) % t.log_every == 0) || (step + 1 == t.steps);
    logger.log(last, print);
    if (last.overflow) {
      // Expected while a dynamic scale finds its level: not a bad step.
      log::warn0("step " + std::to_string(step + 1) + ": gradients overflowed at loss scale " +
                 std::to_string(last.loss_scale) + ", update skipped, scale halved");
    }
    bad_in_row = last.skipped && !last.overflow ? bad_in_row + 1 : 0;
    if (last.skipped && !last.overflow)
      log::warn0("step " + std::to_string(step + 1) +
                 ": non-finite loss or gradients, update skipped (" + std::to_string(bad_in_row) +
                 " in a row)");
    if (bad_in_row >= ck.max_bad_steps)
      throw Error(std::to_string(bad_in_row) +
                  " steps in a row with non-finite loss or gradients; "
                  "last good checkpoint: " +
                  last_checkpoint);
    // Stop requests are agreed on at the step boundary: all ranks checkpoint the same step.
    std::vector<int64_t> stop{stop_requested() ? 1 : 0};
    backend_.all_reduce_host(stop, groups_.world);
    result.stopped = stop[0] > 0;
    const bool periodic = ck.every > 0 && (step + 1) % ck.every == 0;
    if (periodic || result.stopped || step + 1 == t.steps) {
      const auto rep = ckpt::save(ck, cfg_, step + 1, train_state(ck.full), groups_);
      last_checkpoint = rep.path;
      char msg[256];
      std::snprintf(msg, sizeof msg, "checkpoint %s: %.1f MB in %.2f s", rep.path.c_str(),
                    rep.bytes / 1e6, rep.seconds);
      log::info0(msg);
    }
    if (result.stopped) {
      // The longest time any rank has waited since its signal (a rank that got none: 0).
      const double waited =
          groups_.world.all_reduce(seconds_since_stop_request(), dist::Reduce::kMax);
      char msg[256];
      std::snprintf(msg, sizeof msg,
                    "stop signal: checkpoint of step %lld published %.2f s after the signal; "
                    "exiting to be resumed",
                    (long long)(step + 1), waited);
      log::info0(msg);
      break;
    }
  }
  log::identity().step = -1;
  return result;
}

void report_parameters(const config::RunConfig& cfg, const model::ParamTable& table,
                       const dist::ProcessGroups& groups) {
  const auto whole = model::count_parameters(cfg.model, cfg.train, cfg.peft);
  int64_t local_total = 0, local_trainable = 0;
  std::map<std::string, int64_t> frozen_bytes;
  for (const auto& e : table.entries()) {
    local_total += e.numel();
    if (e.trainable())
      local_trainable += e.numel();
    else
      frozen_bytes[e.storage()] += e.bytes();
  }
  std::string frozen;
  for (const auto& [storage, bytes] : frozen_bytes) {
    char b[64];
    std::snprintf(b, sizeof b, "%s%.1f MB %s", frozen.empty() ? "" : " + ", bytes / 1e6,
                  storage.c_str());
    frozen += b;
  }
  char line[768];
  std::snprintf(line, sizeof line,
                "parameters (mode %s): whole model %.3fM total, %.3fM trainable (%lld), %.3fM "
                "frozen | rank 0: %.3fM held, %.3fM trainable, frozen %s (%lld experts/layer here)",
                config::to_string(cfg.train.mode).c_str(), whole.total / 1e6, whole.trainable / 1e6,
                (long long)whole.trainable, whole.frozen / 1e6, local_total / 1e6,
                local_trainable / 1e6, frozen.empty() ? "none" : frozen.c_str(),
                static_cast<long long>(groups.placement.num_local()));
  log::info0(line);
}

}  // namespace mofe::train
