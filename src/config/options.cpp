#include "mofe/config/options.h"

#include <boost/program_options.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "mofe/ckpt/open_model.h"
#include "mofe/core/error.h"

namespace po = boost::program_options;

namespace mofe::config {

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& option) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size())
      throw UsageError(option + ": '" + item + "' is not an integer (expected a list like 0,2)");
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> parse_name_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

namespace {

// A config file as Boost reads it ("name = value" lines), with the section headers checked and
// removed: a header names an option group, and each option under it must belong to it.
std::string flatten_sections(std::istream& in, const std::string& path,
                             const std::map<std::string, const po::options_description*>& groups) {
  std::ostringstream out;
  std::string line, section;
  for (int n = 1; std::getline(in, line); ++n) {
    const auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '[') {
      const auto close = line.find(']', first);
      section = line.substr(first + 1,
                            close == std::string::npos ? std::string::npos : close - first - 1);
      if (!groups.count(section)) {
        std::string known;
        for (const auto& g : groups) known += (known.empty() ? "" : ", ") + ("[" + g.first + "]");
        throw UsageError("config file '" + path + "' line " + std::to_string(n) +
                         ": unknown section [" + section + "] (" + known + ")");
      }
      out << "\n";
      continue;
    }
    if (!section.empty() && first != std::string::npos && line[first] != '#') {
      const auto eq = line.find('=');
      std::string key =
          line.substr(first, eq == std::string::npos ? std::string::npos : eq - first);
      key.erase(key.find_last_not_of(" \t") + 1);
      if (!groups.at(section)->find_nothrow(key, false)) {
        std::string owner;
        for (const auto& g : groups)
          if (g.second->find_nothrow(key, false)) owner = g.first;
        if (!owner.empty())
          throw UsageError("config file '" + path + "' line " + std::to_string(n) + ": '" + key +
                           "' belongs to [" + owner + "], not [" + section + "]");
      }
    }
    out << line << "\n";
  }
  return out.str();
}

// A model option: its name and how to copy it from the command-line struct into the result,
// so that --model-config can be overridden field by field.
struct ModelOption {
  const char* name;
  std::function<void(ModelConfig& dst, const ModelConfig& src)> copy;
};

#define MOFE_MODEL_FIELD(opt, field)                                     \
  ModelOption {                                                          \
    opt, [](ModelConfig& d, const ModelConfig& s) { d.field = s.field; } \
  }

std::vector<ModelOption> model_options() {
  return {MOFE_MODEL_FIELD("hidden-size", hidden_size),
          MOFE_MODEL_FIELD("intermediate-size", intermediate_size),
          MOFE_MODEL_FIELD("num-layers", num_hidden_layers),
          MOFE_MODEL_FIELD("num-heads", num_attention_heads),
          MOFE_MODEL_FIELD("num-kv-heads", num_key_value_heads),
          MOFE_MODEL_FIELD("vocab-size", vocab_size),
          MOFE_MODEL_FIELD("max-positions", max_position_embeddings),
          MOFE_MODEL_FIELD("rope-theta", rope_theta),
          MOFE_MODEL_FIELD("rms-eps", rms_norm_eps),
          MOFE_MODEL_FIELD("num-experts", num_local_experts),
          MOFE_MODEL_FIELD("experts-per-token", num_experts_per_tok),
          MOFE_MODEL_FIELD("aux-loss-coef", router_aux_loss_coef)};
}
#undef MOFE_MODEL_FIELD

}  // namespace

ParsedRun parse_run_config(const std::vector<std::string>& args) {
  ParsedRun out;
  RunConfig& c = out.config;
  ModelConfig cli_model;
  std::string config_file, model_config_file, mode = "mofe", freeze, parts,
                                              targets = "q_proj,v_proj", step_timeout = "auto";
  bool dry_run = false;

  po::options_description general("General");
  general.add_options()("help,h", "show this help")(
      "config", po::value(&config_file), "read options from FILE (name = value per line)");

  po::options_description model("Model (HF config.json names in brackets)");
  model.add_options()("model-config", po::value(&model_config_file),
                      "HF-style config.json for the model shape")(
      "hidden-size", po::value(&cli_model.hidden_size)->default_value(cli_model.hidden_size),
      "[hidden_size]")(
      "intermediate-size",
      po::value(&cli_model.intermediate_size)->default_value(cli_model.intermediate_size),
      "[intermediate_size]")(
      "num-layers",
      po::value(&cli_model.num_hidden_layers)->default_value(cli_model.num_hidden_layers),
      "[num_hidden_layers]")(
      "num-heads",
      po::value(&cli_model.num_attention_heads)->default_value(cli_model.num_attention_heads),
      "[num_attention_heads]")(
      "num-kv-heads",
      po::value(&cli_model.num_key_value_heads)->default_value(cli_model.num_key_value_heads),
      "[num_key_value_heads]")(
      "vocab-size", po::value(&cli_model.vocab_size)->default_value(cli_model.vocab_size),
      "[vocab_size]")("max-positions",
                      po::value(&cli_model.max_position_embeddings)
                          ->default_value(cli_model.max_position_embeddings),
                      "[max_position_embeddings]")(
      "rope-theta", po::value(&cli_model.rope_theta)->default_value(cli_model.rope_theta),
      "[rope_theta]")("rms-eps",
                      po::value(&cli_model.rms_norm_eps)->default_value(cli_model.rms_norm_eps),
                      "[rms_norm_eps]")(
      "num-experts",
      po::value(&cli_model.num_local_experts)->default_value(cli_model.num_local_experts),
      "[num_local_experts], 0 = dense Llama")(
      "experts-per-token",
      po::value(&cli_model.num_experts_per_tok)->default_value(cli_model.num_experts_per_tok),
      "[num_experts_per_tok], top-k")(
      "aux-loss-coef",
      po::value(&cli_model.router_aux_loss_coef)->default_value(cli_model.router_aux_loss_coef),
      "[router_aux_loss_coef]");

  po::options_description parallel("Parallelism");
  parallel.add_options()("ep-size",
                         po::value(&c.parallel.ep_size)->default_value(c.parallel.ep_size),
                         "expert-parallel ranks (experts split over them)")(
      "dp-size", po::value(&c.parallel.dp_size)->default_value(c.parallel.dp_size),
      "data-parallel replicas; 0 = world / ep-size");

  TrainConfig& t = c.train;
  po::options_description train("Training");
  train.add_options()(
      "mode", po::value(&mode)->default_value(mode),
      "mofe (experts frozen) | full (all trained) | lora | dora | qlora (peft's adapters) | "
      "perft-r | perft-e | perft-s | perft-d (PERFT adapters beside the MoE)")(
      "model", po::value(&t.init_model),
      "weights to start from: a Hugging Face directory, a mofe model (import/merge), a "
      "checkpoint; or 'dense' for a dense Llama (no experts, everything trains)")(
      "freeze-experts", po::value(&freeze), "comma list of experts frozen in full mode, e.g. 0,2")(
      "train-parts", po::value(&parts),
      "full mode: train only these (comma list of embeddings, attention, norms, router, ffn, "
      "head), e.g. ffn for an expert fine-tune that a merge keeps whole")(
      "steps", po::value(&t.steps)->default_value(t.steps), "optimizer steps")(
      "micro-batch", po::value(&t.micro_batch)->default_value(t.micro_batch),
      "sequences per rank per micro-step")(
      "seq-len", po::value(&t.seq_len)->default_value(t.seq_len), "tokens per sequence")(
      "grad-accum", po::value(&t.grad_accum)->default_value(t.grad_accum),
      "micro-steps per optimizer step")("lr", po::value(&t.lr)->default_value(t.lr),
                                        "peak learning rate")(
      "min-lr", po::value(&t.min_lr)->default_value(t.min_lr),
      "learning rate at the last step (linear decay)")(
      "warmup-steps", po::value(&t.warmup_steps)->default_value(t.warmup_steps),
      "linear warm-up steps")("weight-decay",
                              po::value(&t.weight_decay)->default_value(t.weight_decay),
                              "AdamW decoupled weight decay")(
      "beta1", po::value(&t.beta1)->default_value(t.beta1), "AdamW beta1")(
      "beta2", po::value(&t.beta2)->default_value(t.beta2), "AdamW beta2")(
      "adam-eps", po::value(&t.adam_eps)->default_value(t.adam_eps), "AdamW epsilon")(
      "clip-grad", po::value(&t.clip_grad)->default_value(t.clip_grad),
      "global gradient-norm clip; <= 0 disables")(
      "recompute", po::value(&t.recompute)->default_value(t.recompute),
      "per decoder layer, recompute in backward instead of storing activations: auto (full in "
      "qlora mode, as peft's QLoRA preparation does; none otherwise) | none | moe (the "
      "feed-forward: router, all-to-all, experts) | attention | full (the whole layer)")(
      "seed", po::value(&t.seed)->default_value(t.seed), "seed of initialisation and data order")(
      "log-every", po::value(&t.log_every)->default_value(t.log_every),
      "steps between progress lines")("out-dir", po::value(&t.out_dir)->default_value(t.out_dir),
                                      "run directory (metrics, resolved config)")(
      "metrics-file", po::value(&t.metrics_file),
      "JSON-lines metrics (default OUT_DIR/metrics.jsonl)")(
      "dry-run", po::bool_switch(&dry_run),
      "print per rank the parameters, trainable parameters, optimizer-state, gradient and frozen "
      "bytes and an estimate of peak memory, then exit (builds nothing)");

  PeftConfig& pf = c.peft;
  po::options_description peft(
      "PEFT baselines (--mode lora | dora | qlora; peft's LoraConfig names)");
  // clang-format off
  peft.add_options()
      ("lora-r", po::value(&pf.lora_r)->default_value(pf.lora_r), "adapter rank r")
      ("lora-alpha", po::value(&pf.lora_alpha)->default_value(pf.lora_alpha), "scaling numerator: scaling = alpha / r")
      ("lora-dropout", po::value(&pf.lora_dropout)->default_value(pf.lora_dropout), "dropout on the adapter's input")
      ("lora-targets", po::value(&targets)->default_value(targets), "HF module names: q_proj,k_proj,v_proj,o_proj, gate_proj,up_proj,down_proj (dense MLP or every expert; experts also w1,w3,w2), gate (router), lm_head")
      ("use-rslora", po::bool_switch(&pf.use_rslora), "rank-stabilised scaling alpha / sqrt(r)")
      ("train-router", po::bool_switch(&pf.train_router), "also train the routers")
      ("train-embeddings", po::bool_switch(&pf.train_embeddings), "also train embed_tokens and lm_head")
      ("frozen-dtype", po::value(&pf.frozen_dtype)->default_value(pf.frozen_dtype), "storage of frozen projection weights: auto (nf4 under qlora, else the compute dtype) | fp32 | bf16 | nf4 (any mode: frozen experts in mofe mode too)")
      ("double-quant", po::value(&pf.double_quant)->default_value(pf.double_quant), "NF4: quantise the block scales to 8 bits too (true | false)")
      ("adapter", po::value(&pf.adapter), "start from a Hugging Face peft adapter directory (adapter_config.json + adapter_model.safetensors); its r, alpha, targets and DoRA setting apply");
  // clang-format on

  po::options_description perft(
      "PERFT (--mode perft-r | perft-e | perft-s | perft-d: adapters beside each MoE block, the "
      "pretrained model frozen)");
  // clang-format off
  perft.add_options()
      ("perft-adapters", po::value(&pf.perft_adapters)->default_value(pf.perft_adapters), "adapter experts N_a per layer (perft-r, perft-d; perft-s has 1, perft-e one per expert)")
      ("perft-topk", po::value(&pf.perft_topk)->default_value(pf.perft_topk), "adapters each token is routed to (perft-r)")
      ("perft-rank", po::value(&pf.perft_rank)->default_value(pf.perft_rank), "bottleneck width D_B of each adapter")
      ("perft-adapter", po::value(&pf.perft_adapter)->default_value(pf.perft_adapter), "lora: up(down(x)) | parallel: up(act(down(x)))")
      ("perft-act", po::value(&pf.perft_act)->default_value(pf.perft_act), "activation of parallel adapters: silu | relu | gelu")
      ("perft-aux-coef", po::value(&pf.perft_aux_coef)->default_value(pf.perft_aux_coef), "load-balancing loss coefficient of the adapter router (perft-r; 0: off)");
  // clang-format on

  po::options_description data("Data");
  // clang-format off
  data.add_options()
      ("data", po::value(&c.data.source)->default_value(c.data.source), "dataset directory from mofe preprocess, or synthetic")
      ("tokenizer", po::value(&c.data.tokenizer), "the model's tokenizer.model: training refuses data made with another")
      ("prefetch", po::value(&c.data.prefetch)->default_value(c.data.prefetch), "micro-batches the loader thread reads ahead")
      ("pack", po::bool_switch(&c.data.pack), "pack a micro-batch's samples end to end instead of one per padded row")
      ("data-seed", po::value(&c.data.seed)->default_value(c.data.seed), "seed of the synthetic language")
      ("data-branching", po::value(&c.data.branching)->default_value(c.data.branching), "successors per token in the synthetic language");
  // clang-format on

  config::CheckpointConfig& ck = c.checkpoint;
  po::options_description checkpoint("Checkpoints");
  // clang-format off
  checkpoint.add_options()
      ("checkpoint-dir", po::value(&ck.dir), "where checkpoints go (default OUT_DIR/checkpoints)")
      ("checkpoint-every", po::value(&ck.every)->default_value(ck.every), "steps between checkpoints (0: at the end and on a signal)")
      ("keep-checkpoints", po::value(&ck.keep)->default_value(ck.keep), "published checkpoints to keep")
      ("resume", po::value(&ck.resume), "auto (latest intact checkpoint, if any) | a checkpoint directory")
      ("full-checkpoint", po::bool_switch(&ck.full), "also write frozen experts (self-contained)")
      ("max-bad-steps", po::value(&ck.max_bad_steps)->default_value(ck.max_bad_steps), "non-finite steps in a row before stopping")
      ("break-lock", po::bool_switch(&ck.break_lock), "take over the lock of the run or checkpoint directory held by a job of another host (only when that job is gone)");
  // clang-format on

  po::options_description runtime("Runtime");
  runtime.add_options()("device", po::value(&c.runtime.device)->default_value(c.runtime.device),
                        "auto | cpu | cuda")(
      "dtype", po::value(&c.runtime.dtype)->default_value(c.runtime.dtype), "float32 | float64")(
      "precision", po::value(&c.runtime.precision)->default_value(c.runtime.precision),
      "fp32 | bf16-mixed | fp16-mixed: mixed computes matmuls and activations in 16 bits and "
      "keeps float32 master weights and moments (frozen weights: bf16 unless --frozen-dtype)")(
      "grad-reduce-dtype",
      po::value(&c.runtime.grad_reduce_dtype)->default_value(c.runtime.grad_reduce_dtype),
      "fp32 | bf16: the type gradients are summed over ranks in (bf16 halves the bytes)")(
      "loss-scale", po::value(&c.runtime.loss_scale)->default_value(c.runtime.loss_scale),
      "auto (dynamic under fp16-mixed, else none) | none | dynamic | a fixed scale")(
      "loss-scale-window",
      po::value(&c.runtime.loss_scale_window)->default_value(c.runtime.loss_scale_window),
      "dynamic loss scale: good steps in a row before the scale doubles")(
      "threads", po::value(&c.runtime.threads)->default_value(c.runtime.threads),
      "intra-op threads per rank (0 = cores / ranks per node)")(
      "comm", po::value(&c.runtime.comm)->default_value(c.runtime.comm), "mpi | nccl")(
      "step-timeout", po::value(&step_timeout)->default_value(step_timeout),
      "abort the job when a step (with its checkpoint) makes no progress for this long, naming "
      "the collective it is stuck in: auto (20 x the slowest of the first steps, at least "
      "--watchdog-floor) | seconds | 0 (off)")(
      "watchdog-floor",
      po::value(&c.runtime.watchdog_floor)->default_value(c.runtime.watchdog_floor),
      "the least --step-timeout auto waits (seconds)")(
      "memory-check", po::value(&c.runtime.memory_check)->default_value(c.runtime.memory_check),
      "before building: refuse | warn | off when a rank's estimated peak memory exceeds what "
      "is free on its node")("no-blas-probe", po::bool_switch(),
                             "skip the start-up matmul speed probe");

  // Everything but --config/--help may also appear in a file, under its section's header.
  const std::map<std::string, const po::options_description*> sections = {
      {"model", &model},           {"parallel", &parallel},
      {"train", &train},           {"peft", &peft},
      {"perft", &perft},           {"data", &data},
      {"checkpoint", &checkpoint}, {"runtime", &runtime}};
  po::options_description all, file_opts;
  all.add(general);
  for (const auto* group : {&model, &parallel, &train, &peft, &perft, &data, &checkpoint, &runtime})
    all.add(*group), file_opts.add(*group);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).run(), vm);
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      if (!std::filesystem::is_regular_file(path))
        throw UsageError("--config: '" + path + "' is not a file");
      std::ifstream file(path);
      if (!file) throw UsageError("--config: cannot open '" + path + "'");
      std::istringstream in(flatten_sections(file, path, sections));
      try {
        po::store(po::parse_config_file(in, file_opts, /*allow_unregistered=*/false), vm);
      } catch (const po::error& e) {
        throw UsageError("config file '" + path + "': " + e.what());
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  if (vm.count("help")) {
    std::ostringstream os;
    os << "usage: mofe train [options]\n" << all;
    out.help = true;
    out.help_text = os.str();
    return out;
  }

  c.model = cli_model;
  if (t.init_model == "dense") {
    c.model.num_local_experts = 0;  // a dense Llama of the configured shape; all of it trains
  } else if (!t.init_model.empty()) {
    if (!model_config_file.empty())
      throw UsageError("--model and --model-config exclude each other");
    // The model's own config gives the shape; explicit shape options still override it.
    c.model = ckpt::open_model(t.init_model)->config();
    for (const ModelOption& o : model_options())
      if (vm.count(o.name) && !vm[o.name].defaulted()) o.copy(c.model, cli_model);
  } else if (!model_config_file.empty()) {
    c.model = ModelConfig::load(model_config_file);
    for (const ModelOption& o : model_options())
      if (vm.count(o.name) && !vm[o.name].defaulted()) o.copy(c.model, cli_model);
  }
  t.mode = parse_train_mode(mode);
  t.freeze_experts = parse_int_list(freeze, "--freeze-experts");
  t.train_parts = parse_name_list(parts);
  pf.lora_targets = parse_name_list(targets);
  out.dry_run = dry_run;
  // NaN and infinity pass every "x <= 0" check: no number option may be one.
  for (const auto& kv : vm)
    if (kv.second.value().type() == typeid(double) && !std::isfinite(kv.second.as<double>()))
      throw UsageError("--" + kv.first + " must be a finite number, got " +
                       std::to_string(kv.second.as<double>()));
  for (const auto& kv : vm)
    if (!kv.second.defaulted()) out.given.push_back(kv.first);
  if (t.metrics_file.empty()) t.metrics_file = t.out_dir + "/metrics.jsonl";
  if (ck.dir.empty()) ck.dir = t.out_dir + "/checkpoints";
  c.runtime.blas_probe = !vm["no-blas-probe"].as<bool>();
  if (step_timeout == "auto") {
    c.runtime.step_timeout = -1;
  } else {
    const auto seconds = parse_number(step_timeout);
    c.runtime.step_timeout = seconds.value_or(-1);
    if (!seconds || *seconds < 0)
      throw UsageError("--step-timeout: '" + step_timeout +
                       "' is neither auto nor a number of seconds >= 0");
  }
  return out;
}

}  // namespace mofe::config
