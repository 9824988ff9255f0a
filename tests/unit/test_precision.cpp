// Mixed precision, activation recomputation and loss scaling on one process (#13):
//   recompute: the same loss and gradients as storing activations (float64, to 1e-12), with
//              dropout drawing the same masks;
//   bf16-mixed: float32 masters and moments, bf16 activations and frozen experts (half the
//              bytes, counted), checkpoints with float32 masters and frozen experts as stored,
//              and a loss curve that tracks float32's;
//   loss scaling: a power-of-two scale changes nothing, the dynamic rule halves and grows.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "mofe/ckpt/checkpoint.h"
#include "mofe/ckpt/tensor_file.h"
#include "mofe/core/error.h"
#include "mofe/core/fault.h"
#include "mofe/dist/backend.h"
#include "mofe/model/lm_loss.h"
#include "mofe/model/precision.h"
#include "mofe/model/recompute.h"
#include "mofe/quant/nf4.h"
#include "mofe/train/loss_scale.h"
#include "mofe/train/trainer.h"
#include "support/solo_run.h"
#include "support/tiny.h"

using namespace mofe;

namespace {

using fixtures::make_run;
using fixtures::Run;

struct Grads {
  double loss = 0, aux = 0;
  std::map<std::string, torch::Tensor> grads;
  std::vector<std::vector<int64_t>> rows;
};

// One forward + backward of a fixed batch; adapters' B perturbed so every adapter has a
// gradient (B = 0 would zero A's).
Grads grads_of(const config::RunConfig& cfg) {
  auto run = make_run(cfg);
  for (const auto& e : run->trainer->model()->params().entries())
    if (e.role.is_adapter() && e.name.find("lora_B") != std::string::npos)
      e.assign(model::init_parameter(e.name + "#perturb", e.shape(), 5));
  Grads g;
  auto batch = fixtures::synthetic_batch(cfg, 0, cfg.train.micro_batch);
  std::tie(g.loss, g.aux) = run->trainer->forward_backward({batch}, &g.rows);
  for (const auto& p : run->trainer->model()->named_parameters())
    if (p.value().grad().defined()) g.grads[p.key()] = p.value().grad().clone();
  return g;
}

void expect_same_gradients(const Grads& got, const Grads& ref, double tol,
                           const std::string& what) {
  EXPECT_LE(std::abs(got.loss - ref.loss), tol * std::abs(ref.loss)) << what;
  EXPECT_LE(std::abs(got.aux - ref.aux), tol * std::max(1.0, std::abs(ref.aux))) << what;
  EXPECT_EQ(got.rows, ref.rows) << what << ": the routing report";
  ASSERT_EQ(got.grads.size(), ref.grads.size()) << what;
  for (const auto& [name, g] : ref.grads) {
    ASSERT_TRUE(got.grads.count(name)) << what << ": no gradient for " << name;
    EXPECT_LE(fixtures::rel_err(got.grads.at(name), g), tol) << what << ": " << name;
  }
}

}  // namespace

TEST(Recompute, EveryLevelGivesTheStoredActivationsLossAndGradientsInFloat64) {
  for (auto mode : {config::TrainMode::kMofe, config::TrainMode::kFull, config::TrainMode::kLora,
                    config::TrainMode::kDora}) {
    auto cfg = fixtures::tiny_config(4, "float64");
    cfg.train.mode = mode;
    cfg.model.router_aux_loss_coef = 0.02;  // the aux loss's gradient goes through the rerun too
    cfg.peft.lora_targets = {"q_proj", "v_proj", "w1", "w2", "gate"};
    const Grads ref = grads_of(cfg);
    ASSERT_GT(ref.grads.size(), 0u);
    for (const char* level : {"moe", "attention", "full"}) {
      cfg.train.recompute = level;
      expect_same_gradients(grads_of(cfg), ref, 1e-12,
                            config::to_string(mode) + " --recompute " + level);
    }
  }
}

TEST(Recompute, DenseModelAndAdapterDropoutRecomputeExactly) {
  // A dense Llama (the feed-forward is its MLP), and LoRA with dropout: the rerun in backward
  // draws the same masks as the first run.
  auto dense = fixtures::tiny_config(0, "float64");
  dense.train.mode = config::TrainMode::kFull;
  const Grads ref = grads_of(dense);
  for (const char* level : {"moe", "attention", "full"}) {
    dense.train.recompute = level;
    expect_same_gradients(grads_of(dense), ref, 1e-12, std::string("dense ") + level);
  }
  auto lora = fixtures::tiny_config(4, "float64");
  lora.train.mode = config::TrainMode::kLora;
  lora.peft.lora_targets = {"q_proj", "v_proj", "w1", "w2"};
  lora.peft.lora_dropout = 0.25;
  torch::manual_seed(7);
  const Grads dropped = grads_of(lora);
  lora.train.recompute = "full";
  torch::manual_seed(7);
  expect_same_gradients(grads_of(lora), dropped, 1e-12, "lora dropout, --recompute full");
}

TEST(Recompute, RegionWithoutGradientsIsAPlainCall) {
  int calls = 0;
  auto fn = [&](const std::vector<torch::Tensor>& in) {
    ++calls;
    return std::vector<torch::Tensor>{in[0] * 2};
  };
  auto w = torch::ones({3}, torch::kDouble).requires_grad_(true);
  auto x = torch::arange(3, torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    model::recompute(fn, {x}, {w});
  }
  EXPECT_EQ(calls, 1);
  // With gradients: the parameter's gradient arrives through the rerun (fn called twice).
  auto fw = [&](const std::vector<torch::Tensor>& in) {
    ++calls;
    return std::vector<torch::Tensor>{(in[0] * w).sum()};
  };
  calls = 0;
  auto y = model::recompute(fw, {x}, {w})[0];
  EXPECT_FALSE(w.grad().defined());
  y.backward();
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(torch::equal(w.grad(), x));
}

TEST(Precision, Bf16MixedKeepsFloat32MastersAndStoresFrozenExpertsInHalfTheBytes) {
  auto cfg = fixtures::tiny_config(4, "float32");
  auto fp32 = make_run(cfg);
  cfg.runtime.precision = "bf16-mixed";
  cfg.validate(1);  // resolves --frozen-dtype auto to bf16
  EXPECT_EQ(cfg.peft.frozen_dtype, "bf16");
  auto mixed = make_run(cfg);
  auto& t = *mixed->trainer;
  EXPECT_EQ(t.dtype(), torch::kFloat);
  EXPECT_EQ(t.compute_dtype(), torch::kBFloat16);

  // Every trainable tensor (the master copy) is float32; frozen experts are bf16 stores.
  int64_t frozen_fp32 = 0, frozen_bf16 = 0, trainable = 0;
  for (const auto& e : fp32->trainer->model()->params().entries())
    if (!e.trainable()) frozen_fp32 += e.bytes();
  for (const auto& e : t.model()->params().entries()) {
    if (e.trainable()) {
      ++trainable;
      EXPECT_EQ(e.value().scalar_type(), torch::kFloat) << e.name;
    } else {
      EXPECT_EQ(e.storage(), "bf16") << e.name;
      frozen_bf16 += e.bytes();
    }
  }
  EXPECT_GT(trainable, 0);
  EXPECT_GT(frozen_fp32, 0);
  EXPECT_EQ(2 * frozen_bf16, frozen_fp32);

  // Activations are bf16 all the way to the final norm; the loss is float32.
  auto batch = fixtures::synthetic_batch(cfg, 0, cfg.train.micro_batch);
  {
    torch::NoGradGuard no_grad;
    auto out = t.model()(batch.input_ids_BS);
    EXPECT_EQ(out.h_BSD.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(out.aux_loss.scalar_type(), torch::kFloat);
  }
  // Gradients and AdamW moments in float32 after a step.
  t.train_step({batch}, 0);
  for (const auto* group : {&t.params().dense, &t.params().experts})
    for (const auto& p : group->params) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
      auto* s = t.optimizer().state_of(p);
      ASSERT_NE(s, nullptr);
      EXPECT_EQ(s->exp_avg.scalar_type(), torch::kFloat);
      EXPECT_EQ(s->exp_avg_sq.scalar_type(), torch::kFloat);
    }
}

TEST(Precision, Bf16MixedCheckpointHoldsFloat32MastersAndFrozenExpertsAsStored) {
  namespace fs = std::filesystem;
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.runtime.precision = "bf16-mixed";
  cfg.validate(1);
  auto run = make_run(cfg);
  run->trainer->train_step({fixtures::synthetic_batch(cfg, 0, cfg.train.micro_batch)}, 0);
  const auto dir = fs::temp_directory_path() / ("mofe-bf16-ckpt-" + std::to_string(getpid()));
  fs::remove_all(dir);
  config::CheckpointConfig cc;
  cc.dir = dir.string();
  cc.full = true;
  const auto rep = ckpt::save(cc, cfg, 1, run->trainer->train_state(true), run->groups);
  int64_t masters = 0, frozen = 0;
  for (const auto& f : fs::recursive_directory_iterator(rep.path)) {  // experts/ too
    if (f.path().extension() != ".h5") continue;
    for (const auto& [name, tensor] : ckpt::read_tensors(f.path().string())) {
      if (name.rfind("m:", 0) == 0 || name.rfind("v:", 0) == 0) {  // AdamW moments
        EXPECT_EQ(tensor.scalar_type(), torch::kFloat) << name;
        continue;
      }
      const auto& e = run->trainer->model()->params().at(name);
      if (e.trainable()) {
        ++masters;
        EXPECT_EQ(tensor.scalar_type(), torch::kFloat) << name;
        EXPECT_TRUE(torch::equal(tensor, e.value())) << name;
      } else if (e.role.kind == model::ParamKind::kExpert) {
        ++frozen;
        EXPECT_EQ(tensor.scalar_type(), torch::kBFloat16) << name;
        EXPECT_TRUE(torch::equal(tensor, e.value())) << name;
      }
    }
  }
  EXPECT_GT(masters, 0);
  EXPECT_EQ(frozen, cfg.model.num_hidden_layers * cfg.model.num_local_experts * 3);
  fs::remove_all(dir);
}

TEST(Precision, Bf16MixedTracksTheFloat32LossCurveOfTheTinyJob) {
  // The bundled tiny job's model (jobs/tiny-synthetic.cfg: hidden 128, 4 layers, 4 experts
  // top-2, vocab 256, micro-batch 8 x 64) on its synthetic language, one rank, 50 steps: the end
  // of the bf16-mixed curve is within 2% of float32's (the mean of the last 5 steps, so that one
  // step's noise does not decide).
  config::RunConfig cfg;
  cfg.model.hidden_size = 128;
  cfg.model.intermediate_size = 344;
  cfg.model.num_hidden_layers = 4;
  cfg.model.num_attention_heads = 4;
  cfg.model.num_key_value_heads = 2;
  cfg.model.vocab_size = 256;
  cfg.model.num_local_experts = 4;
  cfg.model.num_experts_per_tok = 2;
  cfg.train.micro_batch = 8;
  cfg.train.seq_len = 64;
  cfg.train.lr = 3e-3;
  cfg.train.steps = 50;
  cfg.train.warmup_steps = 10;
  cfg.validate(1);
  auto curve = [&](const config::RunConfig& c) {
    auto run = make_run(c);
    data::SyntheticLanguage lang(c.model.vocab_size, c.data.branching, c.data.seed);
    std::vector<double> losses;
    for (int64_t s = 0; s < c.train.steps; ++s)
      losses.push_back(
          run->trainer
              ->train_step(
                  {lang.batch(s * c.train.micro_batch, c.train.micro_batch, c.train.seq_len)}, s)
              .loss);
    return losses;
  };
  const auto ref = curve(cfg);
  auto mixed_cfg = cfg;
  mixed_cfg.runtime.precision = "bf16-mixed";
  mixed_cfg.validate(1);
  const auto got = curve(mixed_cfg);
  double tail_ref = 0, tail_got = 0;
  for (size_t i = ref.size() - 5; i < ref.size(); ++i) tail_ref += ref[i], tail_got += got[i];
  EXPECT_LT(ref.back(), 0.9 * ref.front()) << "the float32 run did not learn: no curve to track";
  EXPECT_LT(std::abs(tail_got - tail_ref) / tail_ref, 0.02)
      << "float32 " << tail_ref / 5 << ", bf16-mixed " << tail_got / 5;
}

TEST(Precision, UnsupportedPrecisionIsAUsageErrorBeforeAnyWork) {
  // On this CPU LibTorch, bf16 has kernels; whether fp16 does depends on the version: either it
  // runs or the refusal names the option and the device.
  EXPECT_NO_THROW(model::check_precision_supported("bf16-mixed", torch::kCPU));
  try {
    model::check_precision_supported("fp16-mixed", torch::kCPU);
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--precision fp16-mixed"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cpu"), std::string::npos) << e.what();
  }
  auto cfg = fixtures::tiny_config(4, "float64");
  cfg.runtime.precision = "bf16-mixed";
  EXPECT_THROW(cfg.validate(1), UsageError);  // mixed keeps float32 masters
  cfg = fixtures::tiny_config(4, "float32");
  cfg.runtime.precision = "bf17";
  EXPECT_THROW(cfg.validate(1), UsageError);
  cfg = fixtures::tiny_config(4, "float32");
  cfg.train.recompute = "some";
  EXPECT_THROW(cfg.validate(1), UsageError);
  cfg = fixtures::tiny_config(4, "float32");
  cfg.runtime.loss_scale = "-4";
  EXPECT_THROW(cfg.validate(1), UsageError);
}

TEST(LossScale, APowerOfTwoScaleLeavesTrainingUnchangedInFloat64) {
  auto cfg = fixtures::tiny_config(4, "float64");
  cfg.train.mode = config::TrainMode::kFull;
  auto plain = make_run(cfg);
  cfg.runtime.loss_scale = "1024";
  auto scaled = make_run(cfg);
  EXPECT_TRUE(scaled->trainer->loss_scaler().enabled());
  for (int64_t s = 0; s < 3; ++s) {
    auto b = fixtures::synthetic_batch(cfg, s * 2, 2);
    const auto a = plain->trainer->train_step({b}, s);
    const auto c = scaled->trainer->train_step({b}, s);
    EXPECT_DOUBLE_EQ(a.loss, c.loss);
    EXPECT_NEAR(a.grad_norm, c.grad_norm, 1e-12 * a.grad_norm);
    EXPECT_EQ(c.loss_scale, 1024.0);
  }
  auto pa = fixtures::snapshot(*plain->trainer->model());
  for (const auto& [name, v] : fixtures::snapshot(*scaled->trainer->model()))
    EXPECT_LE(fixtures::rel_err(v, pa[name]), 1e-12) << name;
}

TEST(LossScale, DynamicRuleHalvesOnOverflowAndDoublesAfterTheWindow) {
  train::LossScaler s(65536, true, 3);
  EXPECT_EQ(s.scale(), 65536);
  s.update(false);
  EXPECT_EQ(s.scale(), 32768);
  s.update(true);
  s.update(true);
  EXPECT_EQ(s.scale(), 32768);
  s.update(true);
  EXPECT_EQ(s.scale(), 65536);  // three good steps in a row
  s.update(true);
  s.update(false);  // an overflow resets the count
  s.update(true);
  s.update(true);
  EXPECT_EQ(s.scale(), 32768);
  for (int i = 0; i < 100; ++i) s.update(false);
  EXPECT_GT(s.scale(), 0);  // floored, never zero
  train::LossScaler off(0, true, 3);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.scale(), 1.0);
  EXPECT_EQ(off.state(), nullptr);
}

TEST(LossScale, GradFaultTakesInfOnlyAndInfGoesWithGradOnly) {
  for (const char* bad : {"grad:nan", "loss:inf", "grad:throw"}) {
    setenv("MOFE_FAULT", bad, 1);
    EXPECT_THROW(fault::configure_from_env(0), UsageError) << bad;
  }
  setenv("MOFE_FAULT", "grad:inf:1:3", 1);
  EXPECT_NO_THROW(fault::configure_from_env(1));
  EXPECT_TRUE(fault::inf_grad(3));
  EXPECT_FALSE(fault::inf_grad(2));
  unsetenv("MOFE_FAULT");
  fault::configure_from_env(0);
  EXPECT_FALSE(fault::inf_grad(3));
}

TEST(HeadLoss, TrainableHeadGetsTheGradientOfTheLogitsPath) {
  // head_loss_sum(h, W) against LibTorch's cross_entropy of h W^T with autograd's matmul
  // backward, float64: the loss, grad_h and grad_W. 600 rows: more than two chunks, the last
  // one partial; some targets ignored.
  torch::manual_seed(3);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  auto h0 = torch::randn({2, 300, 16}, f64);
  auto W0 = torch::randn({50, 16}, f64);
  auto targets = torch::randint(0, 50, {2, 300}, torch::kLong);
  targets.index_put_({0, torch::indexing::Slice(0, 7)}, model::kIgnoreIndex);
  auto h = h0.clone().requires_grad_(true), W = W0.clone().requires_grad_(true);
  auto ref = torch::nn::functional::cross_entropy(
      torch::matmul(h, W.t()).reshape({-1, 50}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
  ref.backward();
  auto h2 = h0.clone().requires_grad_(true), W2 = W0.clone().requires_grad_(true);
  auto got = model::head_loss_sum(h2, W2, targets);
  got.backward();
  EXPECT_NEAR(got.item<double>(), ref.item<double>(), 1e-12 * ref.item<double>());
  EXPECT_LE(fixtures::rel_err(h2.grad(), h.grad()), 1e-12);
  EXPECT_LE(fixtures::rel_err(W2.grad(), W.grad()), 1e-12);
  // bf16 activations against a float32 master: the gradient of W arrives in float32, close to
  // the float32 one at bf16's resolution.
  auto hf = h0.to(torch::kFloat), Wf = W0.to(torch::kFloat).requires_grad_(true);
  auto hb = hf.to(torch::kBFloat16).requires_grad_(true);
  auto lb = model::head_loss_sum(hb, Wf, targets);
  lb.backward();
  EXPECT_EQ(lb.scalar_type(), torch::kFloat);
  EXPECT_EQ(Wf.grad().scalar_type(), torch::kFloat);
  EXPECT_EQ(hb.grad().scalar_type(), torch::kBFloat16);
  EXPECT_LE(fixtures::rel_err(Wf.grad(), W.grad()), 3e-2);
  EXPECT_NEAR(lb.item<double>(), ref.item<double>(), 1e-2 * ref.item<double>());
}

TEST(Precision, Nf4DequantisesTo16BitsAsFloat32RoundedOnce) {
  torch::manual_seed(11);
  const auto q = quant::nf4_quantize(torch::randn({96, 70}), /*double_quant=*/true);
  const auto f32 = quant::nf4_dequantize(q, torch::kFloat);
  for (auto t : {torch::kBFloat16, torch::kHalf})
    EXPECT_TRUE(torch::equal(quant::nf4_dequantize(q, t), f32.to(t))) << t;
}

TEST(Precision, Bf16MixedTrainsEveryModeQloraIncluded) {
  // Every mode takes a finite step under bf16-mixed; frozen projections are bf16 stores, NF4
  // under QLoRA (whose blocks dequantise to the 16-bit compute dtype on the fly).
  for (auto mode : {config::TrainMode::kFull, config::TrainMode::kLora, config::TrainMode::kDora,
                    config::TrainMode::kQlora}) {
    auto cfg = fixtures::tiny_config(4, "float32");
    cfg.train.mode = mode;
    cfg.runtime.precision = "bf16-mixed";
    cfg.validate(1);
    auto run = make_run(cfg);
    const auto s =
        run->trainer->train_step({fixtures::synthetic_batch(cfg, 0, cfg.train.micro_batch)}, 0);
    EXPECT_TRUE(std::isfinite(s.loss)) << config::to_string(mode);
    EXPECT_FALSE(s.skipped) << config::to_string(mode);
    for (const auto& e : run->trainer->model()->params().entries())
      if (!e.trainable() && e.role.kind == model::ParamKind::kExpert) {
        EXPECT_EQ(e.storage(), mode == config::TrainMode::kQlora ? "nf4" : "bf16") << e.name;
      }
  }
}
