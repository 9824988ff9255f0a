#include "mofe/config/train_config.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "mofe/core/error.h"

namespace mofe::config {

bool TrainConfig::expert_frozen(int64_t e) const {
  if (mode != TrainMode::kFull) return true;
  return std::find(freeze_experts.begin(), freeze_experts.end(), e) != freeze_experts.end();
}

bool TrainConfig::part_trains(const std::string& part) const {
  return train_parts.empty() ||
         std::find(train_parts.begin(), train_parts.end(), part) != train_parts.end();
}

namespace {
// Recompute's values in its order: one list for parsing and naming.
constexpr const char* kRecomputeNames[] = {"none", "moe", "attention", "full"};
}  // namespace

Recompute parse_recompute(const std::string& s) {
  for (size_t i = 0; i < std::size(kRecomputeNames); ++i)
    if (s == kRecomputeNames[i]) return Recompute(i);
  throw UsageError("--recompute: unknown value '" + s +
                   "' (expected auto, none, moe, attention or full)");
}

std::string to_string(Recompute r) { return kRecomputeNames[size_t(r)]; }

Recompute TrainConfig::recompute_level() const {
  if (recompute == "auto") return mode == TrainMode::kQlora ? Recompute::kFull : Recompute::kNone;
  return parse_recompute(recompute);
}

void TrainConfig::validate(int64_t num_experts) const {
  auto positive = [](int64_t v, const char* opt) {
    if (v <= 0) throw UsageError(std::string(opt) + " must be positive, got " + std::to_string(v));
  };
  positive(steps, "--steps");
  positive(micro_batch, "--micro-batch");
  positive(seq_len, "--seq-len");
  positive(grad_accum, "--grad-accum");
  positive(log_every, "--log-every");
  recompute_level();
  // Written so that NaN fails each check (every comparison with NaN is false).
  if (!(lr > 0) || !std::isfinite(lr)) throw UsageError("--lr must be positive and finite");
  if (!(min_lr >= 0 && min_lr <= lr)) throw UsageError("--min-lr must be in [0, --lr]");
  if (warmup_steps < 0) throw UsageError("--warmup-steps must be >= 0");
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
    throw UsageError("--weight-decay must be >= 0 and finite");
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
    throw UsageError("--beta1/--beta2 must be in [0, 1)");
  if (!(adam_eps > 0) || !std::isfinite(adam_eps))
    throw UsageError("--adam-eps must be positive and finite");
  if (!std::isfinite(clip_grad)) throw UsageError("--clip-grad must be finite (<= 0 disables)");
  for (int64_t e : freeze_experts)
    if (e < 0 || e >= num_experts)
      throw UsageError("--freeze-experts: expert " + std::to_string(e) + " out of range [0, " +
                       std::to_string(num_experts) + ")");
  for (const auto& p : train_parts)
    if (std::find_if(std::begin(kTrainParts), std::end(kTrainParts),
                     [&](const char* k) { return p == k; }) == std::end(kTrainParts))
      throw UsageError("--train-parts: unknown part '" + p +
                       "' (expected embeddings, attention, norms, router, ffn or head)");
  if (!train_parts.empty() && mode != TrainMode::kFull)
    throw UsageError("--train-parts chooses what trains in --mode full; --mode " + to_string(mode) +
                     " decides that itself");
  if (!freeze_experts.empty() && mode != TrainMode::kFull)
    throw UsageError(
        "--freeze-experts chooses which experts stay frozen in --mode full; in --mode " +
        to_string(mode) + " every expert is frozen already");
}

TrainMode parse_train_mode(const std::string& s) {
  if (s == "mofe") return TrainMode::kMofe;
  if (s == "full") return TrainMode::kFull;
  if (s == "lora") return TrainMode::kLora;
  if (s == "dora") return TrainMode::kDora;
  if (s == "qlora") return TrainMode::kQlora;
  if (s == "perft-r") return TrainMode::kPerftR;
  if (s == "perft-e") return TrainMode::kPerftE;
  if (s == "perft-s") return TrainMode::kPerftS;
  if (s == "perft-d") return TrainMode::kPerftD;
  throw UsageError("--mode: unknown mode '" + s +
                   "' (expected mofe, full, lora, dora, qlora, perft-r, perft-e, perft-s or "
                   "perft-d)");
}

std::string to_string(TrainMode m) {
  switch (m) {
    case TrainMode::kMofe:
      return "mofe";
    case TrainMode::kFull:
      return "full";
    case TrainMode::kLora:
      return "lora";
    case TrainMode::kDora:
      return "dora";
    case TrainMode::kQlora:
      return "qlora";
    case TrainMode::kPerftR:
      return "perft-r";
    case TrainMode::kPerftE:
      return "perft-e";
    case TrainMode::kPerftS:
      return "perft-s";
    case TrainMode::kPerftD:
      return "perft-d";
  }
  return "?";
}

}  // namespace mofe::config
