// Model-level invariants: identity merge, parameter counts, HF naming.
#include <gtest/gtest.h>

#include "mofe/dist/backend.h"
#include "mofe/model/cross_entropy.h"
#include "mofe/model/flops.h"
#include "mofe/model/lm_loss.h"
#include "mofe/model/param_count.h"
#include "mofe/model/transformer.h"
#include "mofe/train/param_groups.h"
#include "support/tiny.h"

using namespace mofe;

namespace {
int64_t numel_where(torch::nn::Module& m, bool trainable) {
  int64_t n = 0;
  for (auto& p : m.parameters()) n += (p.requires_grad() == trainable) ? p.numel() : 0;
  return n;
}
}  // namespace

TEST(Model, IdentityMergeEqualsDenseModel) {
  // Mixtral whose experts are all copies of one dense MLP == the dense Llama with that MLP:
  // the renormalised top-k weights sum to 1, whatever the router says.
  auto moe_cfg = fixtures::tiny_config(4).model;
  auto dense_cfg = moe_cfg;
  dense_cfg.num_local_experts = 0;
  auto groups = fixtures::solo_groups(4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  model::Transformer dense(dense_cfg, groups, *backend), mix(moe_cfg, groups, *backend);
  dense->to(torch::kDouble);
  mix->to(torch::kDouble);
  model::init_weights(*dense, 11);
  model::init_weights(*mix, 99);  // router weights stay random
  {
    torch::NoGradGuard no_grad;
    auto src = dense->named_parameters();
    for (auto& p : mix->named_parameters()) {
      std::string name = p.key();
      const auto pos = name.find("block_sparse_moe.experts.");
      if (pos != std::string::npos) {
        const auto dot = name.find('.', pos + 25);
        name = name.substr(0, pos) + "mlp" + name.substr(dot);  // experts.<e>.X -> mlp.X
      }
      if (src.contains(name)) p.value().copy_(src[name]);
    }
  }
  auto ids = torch::randint(0, moe_cfg.vocab_size, {2, 12}, torch::kLong);
  auto a = dense(ids).logits_BSV, b = mix(ids).logits_BSV;
  EXPECT_LT(fixtures::rel_err(b, a), 1e-12);
}

// The eval path's last layer on some rows only gives those rows' full-forward values: dense and
// MoE, under a packed layout (two continuations after one context) and plain causal.
TEST(Model, ForwardPackedOnSomeRowsEqualsThoseRowsOfTheWholePass) {
  for (int64_t experts : {int64_t(0), int64_t(4)}) {
    auto cfg = fixtures::tiny_config(experts == 0 ? 4 : experts).model;
    cfg.num_local_experts = experts;
    auto groups = fixtures::solo_groups(4);
    auto backend = dist::make_backend("mpi", torch::kCPU);
    model::Transformer m(cfg, groups, *backend);
    m->to(torch::kDouble);
    model::init_weights(*m, 3);
    torch::NoGradGuard no_grad;
    const int64_t B = 2, S = 10;
    auto ids = torch::randint(0, cfg.vocab_size, {B, S}, torch::kLong);
    // Row 0: context 0..5, then segments 6..7 and 8..9 (positions 6, 7 each). Row 1: causal.
    auto pos = torch::arange(S, torch::kLong).repeat({B, 1});
    auto allowed = torch::ones({S, S}, torch::kBool).tril().repeat({B, 1, 1});
    pos[0].slice(0, 8, 10).copy_(torch::tensor({6, 7}, torch::kLong));
    allowed[0].slice(0, 8, 10).slice(1, 6, 8).fill_(false);
    // The mask as given, and as the additive form make_attention_layout builds once.
    const model::AttentionLayout plain{pos, allowed, torch::Tensor()};
    const auto biased = model::make_attention_layout(pos, allowed, torch::kDouble);
    auto whole = m->forward_packed(ids, plain).h_BSD.reshape({B * S, -1});
    EXPECT_LT(fixtures::rel_err(m->forward_packed(ids, biased).h_BSD.reshape({B * S, -1}), whole),
              1e-13);
    // Row 1 is plain causal: it equals the ordinary forward pass.
    EXPECT_LT(fixtures::rel_err(whole.slice(0, S, 2 * S), m->forward(ids, false).h_BSD[1]), 1e-13);
    auto rows = torch::tensor({5, 7, 9, 8, 10, 19, 0}, torch::kLong);  // any order, both rows
    for (const auto* layout : {&plain, &biased}) {
      auto some = m->forward_packed(ids, *layout, rows);
      ASSERT_FALSE(some.h_BSD.defined());
      ASSERT_EQ(some.h_RD.sizes(), (std::vector<int64_t>{7, cfg.hidden_size}));
      EXPECT_LT(fixtures::rel_err(some.h_RD, whole.index_select(0, rows)), 1e-12)
          << experts << " experts";
    }
  }
}

TEST(Model, ParameterNamesFollowHuggingFace) {
  auto cfg = fixtures::tiny_config(4).model;
  auto groups = fixtures::solo_groups(4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  model::Transformer m(cfg, groups, *backend);
  auto names = m->named_parameters();
  for (const char* n :
       {"embed_tokens.weight", "layers.0.self_attn.q_proj.weight",
        "layers.1.input_layernorm.weight", "layers.1.post_attention_layernorm.weight",
        "layers.0.block_sparse_moe.gate.weight",
        "layers.1.block_sparse_moe.experts.3.down_proj.weight", "norm.weight", "lm_head.weight"})
    EXPECT_TRUE(names.contains(n)) << n;
}

TEST(Model, ParameterCountsMatchClosedForm) {
  for (int64_t experts : {0, 2, 4, 8}) {
    for (auto mode : {config::TrainMode::kMofe, config::TrainMode::kFull}) {
      auto cfg = fixtures::tiny_config(experts);
      cfg.train.mode = mode;
      auto groups = fixtures::solo_groups(experts);
      auto backend = dist::make_backend("mpi", torch::kCPU);
      model::Transformer m(cfg.model, groups, *backend);
      train::apply_freezing(*m, cfg.train);
      auto count = model::count_parameters(cfg.model, cfg.train);
      EXPECT_EQ(numel_where(*m, true), count.trainable) << experts;
      EXPECT_EQ(numel_where(*m, false), count.frozen) << experts;
      EXPECT_EQ(numel_where(*m, true) + numel_where(*m, false), count.total) << experts;
    }
  }
}

TEST(Model, TrainPartsCountsMatchClosedForm) {
  // --train-parts in full mode: the closed form (what --dry-run prints) equals what the
  // built model leaves trainable, for dense and MoE models, with and without frozen experts.
  const std::vector<std::vector<std::string>> choices = {
      {"ffn"}, {"attention", "norms"}, {"embeddings", "head"}, {"router", "ffn"}};
  for (int64_t experts : {0, 4}) {
    for (const auto& parts : choices) {
      auto cfg = fixtures::tiny_config(experts);
      cfg.train.mode = config::TrainMode::kFull;
      cfg.train.train_parts = parts;
      if (experts) cfg.train.freeze_experts = {1};
      auto groups = fixtures::solo_groups(experts);
      auto backend = dist::make_backend("mpi", torch::kCPU);
      model::Transformer m(cfg.model, groups, *backend);
      train::apply_freezing(*m, cfg.train);
      auto count = model::count_parameters(cfg.model, cfg.train);
      EXPECT_GT(count.trainable, 0) << experts << " " << parts[0];
      EXPECT_EQ(numel_where(*m, true), count.trainable) << experts << " " << parts[0];
      EXPECT_EQ(numel_where(*m, false), count.frozen) << experts << " " << parts[0];
    }
  }
}

TEST(Model, MofeTrainableCountDoesNotGrowWithExperts) {
  // Only the router (E x D per layer) depends on E; the expert FFNs add nothing trainable.
  std::vector<int64_t> without_router;
  for (int64_t experts : {2, 4, 8}) {
    auto cfg = fixtures::tiny_config(experts);
    auto count = model::count_parameters(cfg.model, cfg.train);
    const int64_t router = cfg.model.num_hidden_layers * experts * cfg.model.hidden_size;
    without_router.push_back(count.trainable - router);
    EXPECT_EQ(count.frozen, cfg.model.num_hidden_layers * experts * count.per_expert);
  }
  EXPECT_EQ(without_router[0], without_router[1]);
  EXPECT_EQ(without_router[1], without_router[2]);
}

TEST(CrossEntropyRows, MatchCrossEntropyInFloat64PerRowAndItsGradient) {
  // The one-pass row kernel against LibTorch's cross_entropy (reduction none) and autograd's
  // gradient of it, computed in float64 from the same inputs, for float64 and float32 rows:
  // vocabularies that are and are not a multiple of the vector width, rows far from zero (the
  // maximum is subtracted), ignored rows (loss 0, gradient rows 0), the gradient written in
  // place of the logits or beside them. The float32 rows sum in double, so they stay within
  // 1e-6 of the truth in any build (LibTorch's own float32 gradient is 4e-6 off on these rows
  // at V = 32000, hence the float64 reference). The LibTorch-op path other devices run is held
  // to LibTorch's float32 accuracy (1e-5).
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    const bool f64 = dtype == torch::kDouble;
    const double tol = f64 ? 1e-12 : 1e-6, generic_tol = f64 ? 1e-12 : 1e-5;
    for (int64_t V : {1, 7, 50, 1000, 32000}) {
      torch::manual_seed(V);
      auto x = torch::randn({9, V}, dtype) * 4;
      x[1] += 800;            // exp would overflow without the max
      x[2] -= 800;            // and underflow to a zero sum
      x[3] = x[3] * 0 + 2.5;  // uniform row
      auto targets = torch::randint(0, V, {9}, torch::kLong);
      targets[4] = model::kIgnoreIndex;  // ignored
      auto valid = targets != model::kIgnoreIndex;
      auto xr = x.to(torch::kDouble).clone().set_requires_grad(true);  // a copy in float64 too
      auto ref = torch::nn::functional::cross_entropy(
          xr, targets,
          torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(
              torch::kNone));
      ref.sum().backward();
      auto loss = torch::empty({9}, dtype), grad = torch::empty_like(x);
      model::cross_entropy_rows(x, targets, valid, loss, grad);
      EXPECT_LE(fixtures::rel_err(loss, ref.detach()), tol) << V << " " << dtype;
      EXPECT_LE(fixtures::rel_err(grad, xr.grad()), tol) << V << " " << dtype;
      EXPECT_EQ(loss[4].item<double>(), 0.0);
      EXPECT_TRUE(torch::equal(grad[4], torch::zeros({V}, dtype)));
      auto inplace = x.clone(), loss2 = torch::empty({9}, dtype);
      model::cross_entropy_rows(inplace, targets, valid, loss2, inplace);
      EXPECT_TRUE(torch::equal(loss2, loss)) << V;
      EXPECT_TRUE(torch::equal(inplace, grad)) << V;
      auto loss3 = torch::empty({9}, dtype);  // the loss alone, no gradient
      model::cross_entropy_rows(x, targets, valid, loss3);
      EXPECT_TRUE(torch::equal(loss3, loss)) << V;
      // The LibTorch-op path other devices run, on the same rows.
      auto loss4 = torch::empty({9}, dtype), grad4 = torch::empty_like(x);
      model::cross_entropy_rows_generic(x, targets, valid, loss4, grad4);
      EXPECT_LE(fixtures::rel_err(loss4, ref.detach()), generic_tol) << V << " generic";
      EXPECT_LE(fixtures::rel_err(grad4, xr.grad()), generic_tol) << V << " generic";
      EXPECT_TRUE(torch::equal(grad4[4], torch::zeros({V}, dtype)));
    }
  }
}

TEST(CrossEntropyRows, ANanLogitMakesItsRowsLossNan) {
  auto x = torch::zeros({2, 40});
  x[1][17] = std::nan("");
  auto loss = torch::empty({2});
  model::cross_entropy_rows(x, torch::tensor({3, 3}, torch::kLong), torch::ones({2}, torch::kBool),
                            loss);
  EXPECT_TRUE(std::isfinite(loss[0].item<double>()));
  EXPECT_TRUE(std::isnan(loss[1].item<double>()));
}

TEST(LmLoss, GradientIsFormedOnlyWhenAutogradWantsItAndConsumedOnce) {
  torch::manual_seed(4);
  auto h = torch::randn({2, 40, 8}, torch::kDouble).set_requires_grad(true);
  auto W = torch::randn({30, 8}, torch::kDouble);
  auto targets = torch::randint(0, 30, {2, 40}, torch::kLong);
  auto with = model::head_loss_sum(h, W, targets);
  {
    torch::NoGradGuard no_grad;  // evaluation: the same loss, no graph
    auto without = model::head_loss_sum(h, W, targets);
    EXPECT_FALSE(without.requires_grad());
    EXPECT_EQ(without.item<double>(), with.item<double>());
  }
  with.backward({}, /*retain_graph=*/true);
  EXPECT_THROW(with.backward(), c10::Error);  // the kept gradient was handed on
}

TEST(LmLoss, MatchesCrossEntropyValueAndGradient) {
  // 600 rows: more than two chunks, the last one partial; some targets masked.
  torch::manual_seed(5);
  auto logits = torch::randn({3, 200, 50}, torch::kDouble).set_requires_grad(true);
  auto targets = torch::randint(0, 50, {3, 200}, torch::kLong);
  targets.index_put_({targets % 7 == 0}, model::kIgnoreIndex);
  auto ours = model::lm_loss_sum(logits, targets);
  ours.backward();
  auto g_ours = logits.grad().clone();
  logits.mutable_grad().reset();
  auto ref = torch::nn::functional::cross_entropy(
      logits.reshape({-1, 50}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
  ref.backward();
  EXPECT_NEAR(ours.item<double>(), ref.item<double>(), 1e-9);
  EXPECT_LT(fixtures::rel_err(g_ours, logits.grad()), 1e-12);
}

TEST(Flops, RecomputeCountsTheForwardOfTheBlocksItRunsAgain) {
  // The tiny config's matmuls written out one by one (2 x rows x in x out each), against
  // step_flops: the forward split into blocks, and what each --recompute level runs again.
  auto c = fixtures::tiny_config(4);
  const auto& m = c.model;
  const double T = double(c.train.micro_batch * c.train.seq_len), S = double(c.train.seq_len);
  const double D = 32, F = 48, V = 64, L = 2, Hq = 4 * 8, Hkv = 2 * 8, E = 4, K = 2, r = 4;
  auto mm = [](double rows, double in, double out) { return 2 * rows * in * out; };
  const double attention = mm(T, D, Hq) + 2 * mm(T, D, Hkv) + mm(T, Hq, D)  // q, k, v, o
                           + 2 * mm(T, S, Hq);  // QK^T and PV over the S x S square
  const double moe = mm(T, D, E) + 2 * mm(T * K, D, F) + mm(T * K, F, D);  // router, experts
  const double head = mm(T, D, V);
  const double lora_qv = mm(T, D, r) + mm(T, r, Hq) + mm(T, D, r) + mm(T, r, Hkv);

  const int64_t tokens = c.train.micro_batch * c.train.seq_len;
  auto flops = [&](config::TrainMode mode, const std::string& recompute) {
    c.train.mode = mode;
    c.train.recompute = recompute;
    c.peft.lora_r = int64_t(r);
    c.peft.lora_targets = {"q_proj", "v_proj"};
    return model::step_flops(m, c.train, tokens, c.train.seq_len, c.peft);
  };
  const auto none = flops(config::TrainMode::kMofe, "auto");  // auto: none in mofe mode
  EXPECT_DOUBLE_EQ(none.forward, L * (attention + moe) + head);
  EXPECT_EQ(none.recompute, 0.0);
  EXPECT_DOUBLE_EQ(flops(config::TrainMode::kMofe, "attention").recompute, L * attention);
  EXPECT_DOUBLE_EQ(flops(config::TrainMode::kMofe, "moe").recompute, L * moe);
  const auto full = flops(config::TrainMode::kMofe, "full");
  EXPECT_DOUBLE_EQ(full.recompute, L * (attention + moe));
  EXPECT_DOUBLE_EQ(full.total(), none.total());  // model FLOPs do not change
  EXPECT_DOUBLE_EQ(full.executed(), none.total() + L * (attention + moe));
  // LoRA on q and v: their adapters run again with the attention block; qlora's auto is full.
  EXPECT_DOUBLE_EQ(flops(config::TrainMode::kLora, "attention").recompute,
                   L * (attention + lora_qv));
  EXPECT_EQ(flops(config::TrainMode::kLora, "auto").recompute, 0.0);
  EXPECT_DOUBLE_EQ(flops(config::TrainMode::kQlora, "auto").recompute,
                   L * (attention + lora_qv + moe));
}
