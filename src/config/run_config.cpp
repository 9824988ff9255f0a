#include "mofe/config/run_config.h"

#include <nlohmann/json.hpp>

#include "mofe/core/error.h"

namespace mofe::config {

void RunConfig::validate(int world_size) {
  model.validate();
  parallel.resolve(world_size, model.num_local_experts);
  train.validate(model.num_local_experts);
  peft.validate(model, train.mode);
  data.validate();
  runtime.validate();
  // bf16-mixed stores frozen weights in bf16 unless told otherwise: no float32 copy of a
  // weight that never changes (QLoRA keeps NF4).
  if (runtime.precision == "bf16-mixed" && peft.frozen_dtype == "auto" &&
      train.mode != TrainMode::kQlora)
    peft.frozen_dtype = "bf16";
  checkpoint.validate();
  if (train.seq_len > model.max_position_embeddings)
    throw UsageError("--seq-len(" + std::to_string(train.seq_len) + ") > max_position_embeddings(" +
                     std::to_string(model.max_position_embeddings) + ")");
  if (!model.is_moe() && !train.freeze_experts.empty())
    throw UsageError("--freeze-experts given for a dense model");
}

nlohmann::json RunConfig::to_json() const {
  nlohmann::json j;
  j["model"] = model.to_json();
  j["parallel"] = {{"ep_size", parallel.ep_size}, {"dp_size", parallel.dp_size}};
  j["train"] = {{"mode", to_string(train.mode)},
                {"model", train.init_model},
                {"freeze_experts", train.freeze_experts},
                {"train_parts", train.train_parts},
                {"steps", train.steps},
                {"micro_batch", train.micro_batch},
                {"seq_len", train.seq_len},
                {"grad_accum", train.grad_accum},
                {"lr", train.lr},
                {"min_lr", train.min_lr},
                {"warmup_steps", train.warmup_steps},
                {"weight_decay", train.weight_decay},
                {"beta1", train.beta1},
                {"beta2", train.beta2},
                {"adam_eps", train.adam_eps},
                {"clip_grad", train.clip_grad},
                {"recompute", to_string(train.recompute_level())},
                {"seed", train.seed},
                {"log_every", train.log_every},
                {"out_dir", train.out_dir}};
  j["peft"] = peft.to_json();
  j["data"] = {{"source", data.source},
               {"tokenizer", data.tokenizer},
               {"pack", data.pack},
               {"seed", data.seed},
               {"branching", data.branching}};
  j["checkpoint"] = {{"dir", checkpoint.dir},   {"every", checkpoint.every},
                     {"keep", checkpoint.keep}, {"resume", checkpoint.resume},
                     {"full", checkpoint.full}, {"max_bad_steps", checkpoint.max_bad_steps}};
  j["runtime"] = {{"device", runtime.device},
                  {"dtype", runtime.dtype},
                  {"precision", runtime.precision},
                  {"grad_reduce_dtype", runtime.grad_reduce_dtype},
                  {"loss_scale", runtime.loss_scale},
                  {"loss_scale_window", runtime.loss_scale_window},
                  {"threads", runtime.threads},
                  {"comm", runtime.comm},
                  {"step_timeout", runtime.step_timeout},
                  {"watchdog_floor", runtime.watchdog_floor}};
  return j;
}

}  // namespace mofe::config
