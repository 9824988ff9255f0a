// The training loop on one process: frozen means frozen, full trains everything, the loss falls.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "mofe/config/options.h"
#include "mofe/core/error.h"
#include "mofe/dist/backend.h"
#include "mofe/train/grad_clip.h"
#include "mofe/train/lr_schedule.h"
#include "mofe/train/optimizer.h"
#include "mofe/train/trainer.h"
#include "mofe/train/watchdog.h"
#include "support/solo_run.h"
#include "support/tiny.h"

using namespace mofe;

namespace {

using fixtures::make_run;
using fixtures::Run;

void train_steps(Run& r, const config::RunConfig& cfg, int64_t steps) {
  for (int64_t s = 0; s < steps; ++s)
    r.trainer->train_step(
        {fixtures::synthetic_batch(cfg, s * cfg.train.micro_batch, cfg.train.micro_batch)}, s);
}

bool is_expert(const Run& r, const std::string& name) {
  return fixtures::expert_of(*r.trainer->model(), name) >= 0;
}

}  // namespace

TEST(Train, MofeModeLeavesEveryExpertBitwiseUnchanged) {
  auto cfg = fixtures::tiny_config(4, "float32");
  auto run = make_run(cfg);
  auto before = fixtures::snapshot(*run->trainer->model());
  train_steps(*run, cfg, 3);
  int64_t experts = 0, changed_dense = 0;
  for (const auto& p : run->trainer->model()->named_parameters()) {
    if (is_expert(*run, p.key())) {
      ++experts;
      EXPECT_TRUE(torch::equal(p.value(), before[p.key()])) << p.key();
      EXPECT_FALSE(p.value().requires_grad());
      EXPECT_FALSE(p.value().grad().defined()) << "frozen parameter got a gradient: " << p.key();
    } else {
      changed_dense += torch::equal(p.value(), before[p.key()]) ? 0 : 1;
    }
  }
  EXPECT_EQ(experts, cfg.model.num_hidden_layers * 4 * 3);
  EXPECT_EQ(changed_dense, int64_t(run->trainer->params().dense.params.size()));
  // Optimizer state exists for the trainable parameters only.
  EXPECT_EQ(run->trainer->optimizer().state_count(),
            int64_t(run->trainer->params().dense.params.size()));
}

TEST(Train, FullModeChangesExperts) {
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.train.mode = config::TrainMode::kFull;
  auto run = make_run(cfg);
  auto before = fixtures::snapshot(*run->trainer->model());
  train_steps(*run, cfg, 3);
  int64_t changed = 0;
  for (const auto& p : run->trainer->model()->named_parameters())
    if (is_expert(*run, p.key())) changed += torch::equal(p.value(), before[p.key()]) ? 0 : 1;
  EXPECT_EQ(changed, cfg.model.num_hidden_layers * 4 * 3);
}

TEST(Train, FreezeExpertsSubset) {
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.train.mode = config::TrainMode::kFull;
  cfg.train.freeze_experts = {1, 2};
  auto run = make_run(cfg);
  auto before = fixtures::snapshot(*run->trainer->model());
  train_steps(*run, cfg, 3);
  for (const auto& p : run->trainer->model()->named_parameters()) {
    const int64_t e = fixtures::expert_of(*run->trainer->model(), p.key());
    if (e < 0) continue;
    const bool same = torch::equal(p.value(), before[p.key()]);
    EXPECT_EQ(same, e == 1 || e == 2) << p.key();
  }
}

TEST(Train, TrainPartsFfnChangesTheMlpOnly) {
  // An expert fine-tune for a merge (--mode full --train-parts ffn): the MLP weights move,
  // everything else stays bitwise what it was and gets no optimizer state.
  auto cfg = fixtures::tiny_config(0, "float32");
  cfg.train.mode = config::TrainMode::kFull;
  cfg.train.train_parts = {"ffn"};
  auto run = make_run(cfg);
  auto before = fixtures::snapshot(*run->trainer->model());
  train_steps(*run, cfg, 3);
  int64_t mlp = 0;
  for (const auto& p : run->trainer->model()->named_parameters()) {
    const bool is_mlp =
        run->trainer->model()->params().at(p.key()).role.kind == model::ParamKind::kDenseMlp;
    mlp += is_mlp ? 1 : 0;
    EXPECT_EQ(torch::equal(p.value(), before[p.key()]), !is_mlp) << p.key();
  }
  EXPECT_EQ(mlp, cfg.model.num_hidden_layers * 3);
  EXPECT_EQ(run->trainer->optimizer().state_count(), mlp);
}

TEST(Train, StepPhasesAddUpToTheStep) {
  // The bench's split of a step (#16): every part measured, none larger than the step, and
  // together no more than the step's wall time.
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.train.mode = config::TrainMode::kFull;
  auto run = make_run(cfg);
  auto s = run->trainer->train_step({fixtures::synthetic_batch(cfg, 0, 2)}, 0);
  const auto& p = s.phases;
  const double sum = p.zero_s + p.forward_s + p.backward_s + p.sync_s + p.clip_s + p.optimizer_s;
  EXPECT_GT(p.forward_s, 0);
  EXPECT_GT(p.backward_s, 0);
  EXPECT_GT(p.optimizer_s, 0);
  for (double x : {p.zero_s, p.sync_s, p.clip_s}) EXPECT_GE(x, 0);
  EXPECT_LE(sum, s.step_time_s * (1 + 1e-9));
  EXPECT_GT(sum, 0.5 * s.step_time_s);
}

TEST(Train, SameSeedSameLossCurve) {
  auto cfg = fixtures::tiny_config(4, "float32");
  std::vector<double> a, b;
  for (auto* out : {&a, &b}) {
    auto run = make_run(cfg);
    for (int64_t s = 0; s < 4; ++s)
      out->push_back(run->trainer->train_step({fixtures::synthetic_batch(cfg, s * 2, 2)}, s).loss);
  }
  EXPECT_EQ(a, b);
}

TEST(Train, LossFallsOnSyntheticLanguage) {
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.train.micro_batch = 8;
  cfg.train.seq_len = 32;
  cfg.train.steps = 80;
  cfg.train.lr = 1e-2;
  cfg.train.warmup_steps = 5;
  auto run = make_run(cfg);
  double first = 0, last = 0;
  for (int64_t s = 0; s < cfg.train.steps; ++s) {
    auto st = run->trainer->train_step({fixtures::synthetic_batch(cfg, s * 8, 8)}, s);
    (s == 0 ? first : last) = st.loss;
  }
  EXPECT_NEAR(first, std::log(double(cfg.model.vocab_size)), 0.3);
  EXPECT_LT(last, 0.6 * first);
}

TEST(LrSchedule, WarmupThenLinearDecay) {
  config::TrainConfig t;
  t.lr = 1.0;
  t.min_lr = 0.1;
  t.warmup_steps = 4;
  t.steps = 14;
  EXPECT_DOUBLE_EQ(train::learning_rate(t, 0), 0.25);
  EXPECT_DOUBLE_EQ(train::learning_rate(t, 3), 1.0);
  EXPECT_DOUBLE_EQ(train::learning_rate(t, 4), 1.0);
  EXPECT_NEAR(train::learning_rate(t, 9), 0.55, 1e-12);
  EXPECT_NEAR(train::learning_rate(t, 14), 0.1, 1e-12);
}

TEST(AdamW, FusedUpdateMatchesLibTorchAdamW) {
  // The fused CPU kernel against LibTorch's reference implementation, several steps.
  torch::manual_seed(3);
  auto p_ref = torch::randn({37, 5}, torch::kDouble).set_requires_grad(true);
  auto p_ours = p_ref.detach().clone().set_requires_grad(true);
  torch::optim::AdamW ref(
      {p_ref}, torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1));
  train::AdamW ours({{{p_ours}, 0.1}}, {1e-2, 0.9, 0.95, 1e-8, 0.1});
  for (int step = 0; step < 5; ++step) {
    auto g = torch::randn({37, 5}, torch::kDouble);
    p_ref.mutable_grad() = g.clone();
    p_ours.mutable_grad() = g.clone();
    ref.step();
    ours.step();
  }
  EXPECT_LT(fixtures::rel_err(p_ours, p_ref), 1e-14);
  EXPECT_EQ(ours.state_count(), 1);
}

TEST(Train, FullStepMatchesAnUnfusedReference) {
  // #16: the step's clip and AdamW, however fused, against the plain sequence written out here
  // (float64, full mode, clipping active): global norm, every gradient times the clip factor,
  // then AdamW with decay on matrices only, for three steps. Same forward/backward on both.
  auto cfg = fixtures::tiny_config(4, "float64");
  cfg.train.mode = config::TrainMode::kFull;
  cfg.train.clip_grad = 0.05;  // below the tiny model's norm: every step clips
  cfg.train.warmup_steps = 1;
  auto run = make_run(cfg), ref = make_run(cfg);
  const auto& t = cfg.train;
  std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> moments;
  int64_t clipped = 0;
  for (int64_t step = 0; step < 3; ++step) {
    const auto batch = fixtures::synthetic_batch(cfg, step * 2, 2);
    run->trainer->train_step({batch}, step);
    ref->trainer->optimizer().zero_grad();
    ref->trainer->forward_backward({batch});
    torch::NoGradGuard no_grad;
    const double norm = train::global_grad_norm(ref->trainer->params(), ref->groups, *ref->backend);
    const double scale = norm > t.clip_grad ? t.clip_grad / (norm + 1e-6) : 1.0;
    clipped += scale < 1.0 ? 1 : 0;
    const double lr = train::learning_rate(t, step);
    const double bc1 = 1 - std::pow(t.beta1, double(step + 1));
    const double bc2 = 1 - std::pow(t.beta2, double(step + 1));
    for (auto& p : ref->trainer->model()->named_parameters()) {
      if (!p.value().requires_grad()) continue;
      auto& w = p.value();
      auto g = w.grad() * scale;
      auto& [m, v] = moments[p.key()];
      if (!m.defined()) m = torch::zeros_like(w), v = torch::zeros_like(w);
      m = t.beta1 * m + (1 - t.beta1) * g;
      v = t.beta2 * v + (1 - t.beta2) * g * g;
      const double wd = w.dim() >= 2 ? t.weight_decay : 0.0;
      w.mul_(1 - lr * wd).sub_(lr / bc1 * m / (v.sqrt() / std::sqrt(bc2) + t.adam_eps));
    }
  }
  EXPECT_EQ(clipped, 3);
  EXPECT_GT(moments.size(), 0u);
  for (const auto& p : run->trainer->model()->named_parameters()) {
    const auto& r = ref->trainer->model()->named_parameters()[p.key()];
    EXPECT_LT((p.value() - r).abs().max().item<double>(), 1e-12) << p.key();
  }
}

// #11 item 15: the default watchdog is on and generous. Until three steps are seen it waits
// 30 minutes (a first step may load data, probe BLAS, compile); then 20 x the slowest of them,
// never below the floor.
TEST(Watchdog, AutoTimeoutFollowsTheFirstSteps) {
  EXPECT_DOUBLE_EQ(train::auto_step_timeout({}, 600), 1800);
  EXPECT_DOUBLE_EQ(train::auto_step_timeout({2.0, 3.0}, 600), 1800);
  EXPECT_DOUBLE_EQ(train::auto_step_timeout({0.5, 2.0, 1.0}, 600), 600);
  EXPECT_DOUBLE_EQ(train::auto_step_timeout({90, 120, 100}, 600), 2400);
  EXPECT_DOUBLE_EQ(train::auto_step_timeout({0.01, 0.02, 0.01}, 5), 5);
  EXPECT_DOUBLE_EQ(train::auto_step_timeout({}, 3600), 3600);
}

TEST(Watchdog, AutoIsTheDefaultAndZeroTurnsItOff) {
  const auto c = config::parse_run_config({}).config;
  EXPECT_LT(c.runtime.step_timeout, 0) << "the default must be auto, not off";
  EXPECT_DOUBLE_EQ(c.runtime.watchdog_floor, 600);
  EXPECT_EQ(config::parse_run_config({"--step-timeout", "0"}).config.runtime.step_timeout, 0);
  EXPECT_EQ(config::parse_run_config({"--step-timeout", "45"}).config.runtime.step_timeout, 45);
  EXPECT_THROW(config::parse_run_config({"--step-timeout", "soon"}), UsageError);
  EXPECT_THROW(config::parse_run_config({"--step-timeout", "-3"}), UsageError);
  // A watchdog in auto mode starts at 30 minutes, not at the floor.
  train::Watchdog w(-1, 600);
  EXPECT_DOUBLE_EQ(w.timeout(), 1800);
}
