#include "mofe/train/memory_plan.h"

#include <algorithm>
#include <cstdio>

#include "mofe/peft/layout.h"
#include "mofe/peft/policy.h"
#include "mofe/quant/nf4.h"

namespace mofe::train {

namespace {

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::string storage_name(quant::WeightStorage s, int64_t dtype_bytes) {
  if (s == quant::WeightStorage::kBf16) return "bf16";
  if (s == quant::WeightStorage::kNf4) return "nf4";
  return dtype_bytes == 8 ? "float64" : "float32";
}

int64_t storage_bytes(quant::WeightStorage s, int64_t numel, bool double_quant,
                      int64_t dtype_bytes) {
  if (s == quant::WeightStorage::kBf16) return 2 * numel;
  if (s == quant::WeightStorage::kNf4) return quant::nf4_bytes(numel, double_quant);
  return dtype_bytes * numel;
}

// Activations one micro-batch keeps for backward, per rank (see the header), in the compute
// dtype (2 bytes under mixed precision), less what --recompute reruns instead: a recomputed
// block keeps only its input, and one block's activations exist at a time in backward.
int64_t activation_bytes(const config::RunConfig& cfg, const model::BuildOptions& build,
                         int64_t dtype_bytes) {
  const auto& m = cfg.model;
  const double B = double(cfg.train.micro_batch), S = double(cfg.train.seq_len), T = B * S;
  const double D = double(m.hidden_size), F = double(m.intermediate_size);
  const double H = double(m.num_attention_heads), G = double(m.num_key_value_heads);
  const double Dh = double(m.head_dim()), V = double(m.vocab_size);
  const double attention = 2 * T * D               // input norm's input and output
                           + T * (H + 2 * G) * Dh  // q, k, v
                           + T * (H + G) * Dh      // rotated q, k
                           + 2 * B * H * S * S     // scores, probabilities
                           + T * H * Dh + T * D;   // attention output, o_proj output
  double ffn = 2 * T * D;                          // post-attention norm's input and output
  if (m.is_moe()) {
    const double K = double(m.num_experts_per_tok), E = double(m.num_local_experts);
    // The SwiGLU keeps gate and up (model/mlp.h); the down projection's input only when the
    // experts' weights train.
    const bool experts_train = cfg.train.mode == config::TrainMode::kFull;
    ffn += 2 * T * E                               // router logits, probabilities
           + 3 * T * K * D                         // gathered, exchanged, expert output rows
           + (experts_train ? 3 : 2) * T * K * F;  // gate, up (, their product)
  } else {
    ffn += 3 * T * F + T * D;
  }
  const double L = double(m.num_hidden_layers), input = T * D;
  double layers = 0;
  switch (cfg.train.recompute_level()) {
    case config::Recompute::kNone:
      layers = L * (attention + ffn);
      break;
    case config::Recompute::kAttention:
      layers = L * (input + ffn) + attention;
      break;
    case config::Recompute::kMoe:
      layers = L * (attention + input) + ffn;
      break;
    case config::Recompute::kFull:
      layers = L * input + attention + ffn;
      break;
  }
  const double compute_bytes = cfg.runtime.mixed() ? 2.0 : double(dtype_bytes);
  // The head's logits (float32 or wider in every precision): a plain head (a parameter, no
  // adapter: the trainer's fused loss) has one chunk of them at a time and keeps none; a tied,
  // adapted or compressed head has the logits and their whole gradient at once.
  const double stats_bytes = std::max<double>(4, double(dtype_bytes));
  const auto head = build.plan_for(model::ParamRole{model::ParamKind::kHead}, "lm_head");
  const bool fused =
      !m.tie_word_embeddings && !head.adapter.any() && head.storage == quant::WeightStorage::kParam;
  const double chunk = 256 * V;  // model/lm_loss.cpp's row chunk
  const double logits = fused ? chunk : 2 * T * V;
  return int64_t(layers * compute_bytes + logits * stats_bytes);
}

}  // namespace

MemoryPlan plan_memory(const config::RunConfig& cfg) {
  const int64_t dtype_bytes = cfg.runtime.dtype == "float64" ? 8 : 4;
  const auto build = peft::build_options(cfg.train, cfg.peft, cfg.model, torch::kFloat);
  auto specs = model::param_layout(cfg.model);
  for (auto& a : peft::adapter_layout(cfg.model, build)) specs.push_back(std::move(a));

  MemoryPlan plan;
  const int ep = cfg.parallel.ep_size;
  const int64_t per_rank = cfg.model.is_moe() ? cfg.model.num_local_experts / ep : 0;
  plan.ranks.resize(size_t(ep));
  for (int r = 0; r < ep; ++r) plan.ranks[size_t(r)].ep_rank = r;
  for (const auto& s : specs) {
    const int64_t n = numel_of(s.shape);
    const bool train_it = peft::trainable(s.role, cfg.train, cfg.peft);
    const auto storage = (!s.leaf.empty() && !s.role.is_adapter())
                             ? build.plan_for(s.role, s.leaf).storage
                             : quant::WeightStorage::kParam;
    const std::string name = storage_name(storage, dtype_bytes);
    const int64_t bytes = storage_bytes(storage, n, cfg.peft.double_quant, dtype_bytes);
    plan.params += n;
    (train_it ? plan.trainable : plan.frozen) += n;
    if (!train_it) plan.frozen_bytes[name] += bytes;
    for (auto& rp : plan.ranks) {
      if (s.role.expert >= 0 && s.role.expert / per_rank != rp.ep_rank) continue;
      rp.params += n;
      rp.weight_bytes += bytes;
      if (train_it) {
        rp.trainable += n;
        rp.grad_bytes += n * dtype_bytes;
        rp.optimizer_bytes += 2 * n * dtype_bytes;
      } else {
        rp.frozen += n;
        rp.frozen_bytes[name] += bytes;
      }
    }
  }
  const int64_t act = activation_bytes(cfg, build, dtype_bytes);
  for (auto& rp : plan.ranks) rp.activation_bytes = act;
  return plan;
}

std::string format_memory_plan(const config::RunConfig& cfg, const MemoryPlan& plan) {
  auto mb = [](int64_t b) { return double(b) / 1e6; };
  auto bytes_by = [&](const std::map<std::string, int64_t>& m) {
    std::string s;
    for (const auto& [k, v] : m) {
      char b[64];
      std::snprintf(b, sizeof b, "%s%.1f MB %s", s.empty() ? "" : " + ", mb(v), k.c_str());
      s += b;
    }
    return s.empty() ? std::string("none") : s;
  };
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "dry run (mode %s, %d ranks = ep %d x dp %d): whole model %lld parameters, "
                "%lld trainable, %lld frozen (%s)\n",
                config::to_string(cfg.train.mode).c_str(),
                cfg.parallel.ep_size * cfg.parallel.dp_size, cfg.parallel.ep_size,
                cfg.parallel.dp_size, (long long)plan.params, (long long)plan.trainable,
                (long long)plan.frozen, bytes_by(plan.frozen_bytes).c_str());
  out += line;
  out +=
      "ep rank | parameters | trainable | weights MB | grads MB | AdamW MB | activations MB "
      "| peak MB (estimate) | frozen\n";
  for (const auto& r : plan.ranks) {
    std::snprintf(line, sizeof line,
                  "%7d | %10lld | %9lld | %10.1f | %8.1f | %8.1f | %14.1f | %18.1f | %s\n",
                  r.ep_rank, (long long)r.params, (long long)r.trainable, mb(r.weight_bytes),
                  mb(r.grad_bytes), mb(r.optimizer_bytes), mb(r.activation_bytes),
                  mb(r.peak_bytes()), bytes_by(r.frozen_bytes).c_str());
    out += line;
  }
  out +=
      "(each ep rank's dp replicas hold the same; the estimate leaves out LibTorch's and MPI's "
      "own memory and the allocator's slack)";
  return out;
}

}  // namespace mofe::train
