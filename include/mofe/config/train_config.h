// TrainConfig: what is trained and how (mode, optimizer, schedule, batch shape, logging).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mofe::config {

enum class TrainMode {
  kMofe,   // every expert FFN frozen: embeddings, attention, norms, router, head train
  kFull,   // everything trains
  kLora,   // only LoRA adapters train (peft's LoRA)
  kDora,   // only DoRA adapters train (LoRA + a magnitude per output row)
  kQlora,  // LoRA over NF4-stored frozen weights
  // PERFT (Liu et al. 2024): the whole pretrained MoE frozen, bottleneck adapters beside the
  // MoE block train (moe/perft.h)
  kPerftR,  // routed: N_a adapter experts with their own top-k router
  kPerftE,  // embedded: one adapter per pretrained expert, weighted by the frozen router
  kPerftS,  // one always-on shared adapter
  kPerftD,  // N_a always-on adapters, summed
};

// A mode whose trainable parameters are adapters (everything else frozen unless asked).
inline bool is_peft(TrainMode m) {
  return m == TrainMode::kLora || m == TrainMode::kDora || m == TrainMode::kQlora;
}
// A PERFT variant: adapters beside the MoE block, everything pretrained frozen.
inline bool is_perft(TrainMode m) {
  return m == TrainMode::kPerftR || m == TrainMode::kPerftE || m == TrainMode::kPerftS ||
         m == TrainMode::kPerftD;
}
// Only adapters train (LoRA family or PERFT), the pretrained model is referenced, not saved.
inline bool adapters_only(TrainMode m) { return is_peft(m) || is_perft(m); }

// The parts --train-parts names: token embeddings, attention projections, RMSNorm weights,
// routers, the MLP (dense or every expert), the LM head.
inline constexpr const char* kTrainParts[] = {"embeddings", "attention", "norms",
                                              "router",     "ffn",       "head"};

// What a decoder layer recomputes in backward (model/recompute.h).
enum class Recompute {
  kNone,
  kMoe,        // the feed-forward block: post-attention norm, router, all-to-all, experts
  kAttention,  // the attention block: input norm, q/k/v/o, rope, softmax
  kFull,       // the whole layer
};

struct TrainConfig {
  TrainMode mode = TrainMode::kMofe;
  std::string init_model;  // --model: "" (seeded init), "dense" (no experts), or a model path
  std::vector<int64_t> freeze_experts;  // --freeze-experts: extra frozen experts in full mode
  // --train-parts: in full mode, the only parts that train (empty: all of them); names from
  // kTrainParts. "ffn" with nothing else is a dense fine-tune that puts what it learns where a
  // MoFE merge takes it from: the MLP.
  std::vector<std::string> train_parts;
  int64_t steps = 300;      // optimizer steps
  int64_t micro_batch = 8;  // sequences per rank per micro-step
  int64_t seq_len = 64;
  int64_t grad_accum = 1;  // micro-steps per optimizer step
  double lr = 3e-3;
  double min_lr = 0.0;  // linear decay ends here
  int64_t warmup_steps = 20;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double adam_eps = 1e-8;
  double clip_grad = 1.0;  // global L2 norm; <= 0 disables
  // auto | none | moe | attention | full: the part of each decoder layer run again in backward
  // (model/recompute.h) instead of keeping its activations. auto: full in qlora mode, as peft's
  // prepare_model_for_kbit_training turns on gradient checkpointing for a 4-bit model (QLoRA
  // trades time for memory), none in every other mode; recompute_level() resolves it.
  std::string recompute = "auto";
  uint64_t seed = 1234;
  int64_t log_every = 10;
  std::string out_dir = "runs/default";  // metrics.jsonl, resolved config
  std::string metrics_file;              // default: <out_dir>/metrics.jsonl

  // True when expert `e` is frozen under this config.
  bool expert_frozen(int64_t e) const;
  // True when --train-parts lets `part` (one of kTrainParts) train; says nothing of the mode.
  bool part_trains(const std::string& part) const;
  void validate(int64_t num_experts) const;
  // --recompute as it applies to this mode ("auto" resolved).
  Recompute recompute_level() const;
};

// "none" | "moe" | "attention" | "full", UsageError (naming --recompute) otherwise; "auto"
// depends on the mode (TrainConfig::recompute_level).
Recompute parse_recompute(const std::string& s);
std::string to_string(Recompute r);

// "mofe" | "full" | "lora" | "dora" | "qlora" | "perft-r" | "perft-e" | "perft-s" | "perft-d",
// UsageError otherwise
TrainMode parse_train_mode(const std::string& s);
std::string to_string(TrainMode m);

}  // namespace mofe::config
