// mofe train: parse -> validate -> device/threads -> process groups -> model -> loop.
#include <cstdio>

#include "mofe/ckpt/checkpoint.h"
#include "mofe/cli/commands.h"
#include "mofe/config/options.h"
#include "mofe/core/device.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/core/memory.h"
#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/model/precision.h"
#include "mofe/peft/adapter_io.h"
#include "mofe/peft/policy.h"
#include "mofe/train/memory_plan.h"
#include "mofe/train/trainer.h"

namespace mofe::cli {

namespace {
// Before anything is allocated: what this node's ranks will need (train/memory_plan.h) against
// what the node can give, so that a model that cannot fit is refused with the numbers instead
// of being killed for memory without a word.
void check_memory(const config::RunConfig& c, const dist::MpiEnv& env) {
  if (c.runtime.memory_check == "off") return;
  const double avail = core::available_memory_bytes();
  if (avail <= 0) return;
  const auto plan = train::plan_memory(c);
  const int ep_rank = env.world_rank() % c.parallel.ep_size;
  const double need = double(plan.ranks[size_t(ep_rank)].peak_bytes()) * env.local_size();
  if (need <= avail) return;
  char msg[640];
  std::snprintf(msg, sizeof msg,
                "this node's %d rank(s) need an estimated %.0f MB (%.0f MB each: weights %.0f, "
                "gradients %.0f, AdamW %.0f, activations %.0f) but %.0f MB are free: spread the "
                "experts over more ranks or nodes (--ep-size), store frozen weights small "
                "(--frozen-dtype bf16 or nf4), or lower --micro-batch; --memory-check warn runs "
                "anyway",
                env.local_size(), need / 1e6, plan.ranks[size_t(ep_rank)].peak_bytes() / 1e6,
                plan.ranks[size_t(ep_rank)].weight_bytes / 1e6,
                plan.ranks[size_t(ep_rank)].grad_bytes / 1e6,
                plan.ranks[size_t(ep_rank)].optimizer_bytes / 1e6,
                plan.ranks[size_t(ep_rank)].activation_bytes / 1e6, avail / 1e6);
  if (c.runtime.memory_check == "refuse") throw UsageError(msg);
  log::warn0(std::string("memory: ") + msg);
}

// " (LoRA r 8, alpha 16, q_proj,v_proj, frozen nf4)" for the PEFT modes, else "".
std::string peft_summary(const config::RunConfig& c) {
  const auto& p = c.peft;
  std::string frozen = p.storage(c.train.mode);
  std::string s;
  if (config::is_peft(c.train.mode)) {
    std::string targets;
    for (const auto& t : p.lora_targets) targets += (targets.empty() ? "" : ",") + t;
    char b[256];
    std::snprintf(b, sizeof b, " (r %lld, alpha %g%s, dropout %g, targets %s%s%s)",
                  (long long)p.lora_r, p.lora_alpha, p.use_rslora ? " rsLoRA" : "", p.lora_dropout,
                  targets.c_str(), p.train_router ? ", routers train" : "",
                  p.train_embeddings ? ", embeddings train" : "");
    s = b;
  }
  if (config::is_perft(c.train.mode)) {
    char b[256];
    std::snprintf(b, sizeof b, " (%lld %s adapters of rank %lld%s%s%s)",
                  (long long)p.perft_modules(c.train.mode, c.model), p.perft_adapter.c_str(),
                  (long long)p.perft_rank,
                  p.perft_adapter == "parallel" ? (", " + p.perft_act).c_str() : "",
                  c.train.mode == config::TrainMode::kPerftR
                      ? (", top-" + std::to_string(p.perft_topk) + " routed").c_str()
                      : "",
                  p.perft_aux_coef > 0 ? (", aux coef " + c10::str(p.perft_aux_coef)).c_str() : "");
    s = b;
  }
  if (frozen != "fp32")
    s += ", frozen weights " + frozen +
         (frozen == "nf4" && p.double_quant ? " (double-quantised)" : "");
  return s;
}

void print_config(const config::RunConfig& c, const torch::Device& device, int threads) {
  const auto& m = c.model;
  char buf[1024];
  std::snprintf(
      buf, sizeof buf,
      "model: %s, %lld layers, hidden %lld, ffn %lld, heads %lld/%lld kv, vocab %lld, "
      "%lld experts top-%lld, aux coef %g\n"
      "parallel: world %d = ep %d x dp %d, %lld experts per rank, comm %s, device %s, %d threads\n"
      "train: mode %s%s, %lld steps, micro-batch %lld x seq %lld x accum %lld per rank, "
      "lr %g (warm-up %lld, min %g), wd %g, clip %g, seed %llu, dtype %s, precision %s%s%s, "
      "recompute %s",
      m.is_moe() ? "mixtral" : "llama", (long long)m.num_hidden_layers, (long long)m.hidden_size,
      (long long)m.intermediate_size, (long long)m.num_attention_heads,
      (long long)m.num_key_value_heads, (long long)m.vocab_size, (long long)m.num_local_experts,
      (long long)m.num_experts_per_tok, m.router_aux_loss_coef,
      c.parallel.ep_size * c.parallel.dp_size, c.parallel.ep_size, c.parallel.dp_size,
      (long long)(m.is_moe() ? m.num_local_experts / c.parallel.ep_size : 0),
      c.runtime.comm.c_str(), device.str().c_str(), threads, to_string(c.train.mode).c_str(),
      peft_summary(c).c_str(), (long long)c.train.steps, (long long)c.train.micro_batch,
      (long long)c.train.seq_len, (long long)c.train.grad_accum, c.train.lr,
      (long long)c.train.warmup_steps, c.train.min_lr, c.train.weight_decay, c.train.clip_grad,
      (unsigned long long)c.train.seed, c.runtime.dtype.c_str(), c.runtime.precision.c_str(),
      c.runtime.initial_loss_scale() > 0 ? ", loss scale " : "",
      c.runtime.initial_loss_scale() > 0
          ? (c.runtime.dynamic_loss_scale() ? "dynamic" : c.runtime.loss_scale.c_str())
          : "",
      to_string(c.train.recompute_level()).c_str());
  log::info0(buf);
}
}  // namespace

int run_train(const Args& args, dist::MpiEnv& env) {
  config::ParsedRun parsed;
  torch::Device device(torch::kCPU);
  std::vector<std::unique_ptr<train::RunLock>> locks;  // rank 0: held until the run ends
  const bool ok = agree_on_setup(
      [&] {
        parsed = config::parse_run_config(args);
        if (parsed.help) return;
        auto& c = parsed.config;
        if (!c.peft.adapter.empty()) {
          // The adapter's own settings apply (as PeftModel.from_pretrained takes them).
          if (!config::is_peft(c.train.mode))
            throw UsageError("--adapter loads a peft adapter: it needs --mode lora, dora or qlora");
          peft::adopt_adapter_config(peft::read_adapter_config(c.peft.adapter), c.peft,
                                     c.train.mode, parsed.given);
        }
        if (parsed.dry_run) {  // reads no data: a dataset still to be made is no error
          c.data.source = "synthetic";
          c.data.tokenizer.clear();
        }
        c.validate(env.world_size());
        if (parsed.dry_run) return;
        device = core::select_device(c.runtime, env.local_rank());
        model::check_precision_supported(c.runtime.precision, device);
        // An adapter to start from must fit this model; a checkpoint to resume must come from
        // the same frozen weights: both before any work.
        if (!c.peft.adapter.empty())
          peft::check_adapter_file(c.peft.adapter, c.model,
                                   peft::build_options(c.train, c.peft, c.model, torch::kFloat));
        ckpt::check_resume(c.checkpoint, c, train::weight_source(c));
        if (device.is_cpu()) check_memory(c, env);
        if (env.world_rank() == 0) locks = train::lock_run(c);
      },
      env);
  if (!ok) return kExitUsage;
  if (parsed.help) {
    log::info0(parsed.help_text);
    return 0;
  }
  config::RunConfig& cfg = parsed.config;
  if (parsed.dry_run) {
    log::info0(train::format_memory_plan(cfg, train::plan_memory(cfg)));
    return 0;
  }

  const int threads = core::configure_threads(cfg.runtime, env.local_size());
  if (device.is_cpu()) core::report_blas(threads, cfg.runtime.blas_probe);
  print_config(cfg, device, threads);

  auto world = dist::Communicator::world();
  auto groups = dist::ProcessGroups::build(world, cfg.parallel, cfg.model.num_local_experts);
  auto backend = dist::make_backend(cfg.runtime.comm, device);

  train::Trainer trainer(cfg, groups, *backend, device);
  train::report_parameters(cfg, trainer.model()->params(), groups);
  const auto result = trainer.run();
  const auto& last = result.last;
  char done[200];
  std::snprintf(done, sizeof done, "%s: %lld steps, final loss %.4f, metrics in %s",
                result.stopped ? "stopped" : "done", (long long)last.step, last.loss,
                cfg.train.metrics_file.c_str());
  log::info0(done);
  return result.stopped ? kExitResumable : 0;
}

}  // namespace mofe::cli
