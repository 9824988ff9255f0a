// PERFT (#14) on one process: each variant's MoE block against a per-token loop written here
// from the paper's formulas (float64, forward and adapter gradients, the adapter router's
// load-balancing loss); step 0 is the frozen model exactly; everything but the adapters stays
// bit for bit; trainable counts match closed forms; the tiny model's loss falls; bad options
// are one clear line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "mofe/config/options.h"
#include "mofe/core/error.h"
#include "mofe/dist/backend.h"
#include "mofe/model/param_count.h"
#include "mofe/peft/layout.h"
#include "mofe/peft/policy.h"
#include "mofe/train/memory_plan.h"
#include "support/solo_run.h"
#include "support/tiny.h"

using namespace mofe;
using config::TrainMode;
using testing::HasSubstr;

namespace {

config::RunConfig perft_config(TrainMode mode, const std::string& dtype = "float64",
                               const std::string& kind = "lora") {
  auto c = fixtures::tiny_config(4, dtype);
  c.train.mode = mode;
  c.peft.perft_rank = 4;
  c.peft.perft_adapters = 3;
  c.peft.perft_topk = 2;
  c.peft.perft_adapter = kind;
  return c;
}

const TrainMode kVariants[] = {TrainMode::kPerftR, TrainMode::kPerftE, TrainMode::kPerftS,
                               TrainMode::kPerftD};

std::string name_of(TrainMode m, const std::string& kind, const std::string& act) {
  return config::to_string(m) + " " + kind + (kind == "parallel" ? " " + act : "");
}

// A(x) = up act(down x), straight from the parameters.
torch::Tensor reference_adapter(std::map<std::string, torch::Tensor>& p, const std::string& a,
                                const torch::Tensor& x, const config::PeftConfig& cfg) {
  auto z = torch::matmul(x, p[a + ".down.weight"].t());
  if (cfg.perft_adapter == "parallel")
    z = cfg.perft_act == "silu"   ? torch::silu(z)
        : cfg.perft_act == "relu" ? torch::relu(z)
                                  : torch::gelu(z);
  return torch::matmul(z, p[a + ".up.weight"].t());
}

}  // namespace

TEST(Perft, EachVariantMatchesAPerTokenReference) {
  struct Case {
    TrainMode mode;
    std::string kind, act;
  };
  const std::vector<Case> cases = {
      {TrainMode::kPerftR, "lora", "silu"},     {TrainMode::kPerftR, "parallel", "gelu"},
      {TrainMode::kPerftE, "lora", "silu"},     {TrainMode::kPerftE, "parallel", "relu"},
      {TrainMode::kPerftS, "parallel", "silu"}, {TrainMode::kPerftD, "lora", "silu"},
      {TrainMode::kPerftD, "parallel", "gelu"}};
  for (const auto& k : cases) {
    const std::string what = name_of(k.mode, k.kind, k.act);
    auto c = perft_config(k.mode, "float64", k.kind);
    c.peft.perft_act = k.act;
    auto groups = fixtures::solo_groups(4);
    auto backend = dist::make_backend("mpi", torch::kCPU);
    moe::MoeLayer layer(c.model, groups, *backend, 0,
                        peft::build_options(c.train, c.peft, c.model, torch::kFloat64));
    layer->to(torch::kFloat64);
    torch::manual_seed(11);
    {
      torch::NoGradGuard ng;
      for (auto& p : layer->named_parameters()) p.value().copy_(torch::randn_like(p.value()) * 0.3);
    }
    std::map<std::string, torch::Tensor> leaf;
    for (auto& p : layer->named_parameters())
      leaf[p.key()] = p.value().detach().clone().set_requires_grad(true);
    auto W = [&](const std::string& n) { return leaf[n + ".weight"]; };
    auto x = torch::randn({7, c.model.hidden_size}, torch::kFloat64);
    const int64_t T = x.size(0), K = c.model.num_experts_per_tok, Na = c.peft.perft_adapters;

    // Per token: the frozen MoE's top-k, each expert (and under perft-e its adapter) weighted
    // by its renormalised probability; then the adapters beside the block.
    std::vector<torch::Tensor> rows;
    std::vector<int64_t> adapter_rows(size_t(Na), 0);
    std::vector<torch::Tensor> adapter_probs;
    for (int64_t t = 0; t < T; ++t) {
      auto xt = x[t].unsqueeze(0), yt = torch::zeros_like(xt);
      auto probs = torch::softmax(torch::matmul(xt, W("gate").t()), -1)[0];
      auto [top_w, top_i] = probs.topk(K);
      top_w = top_w / top_w.sum();
      for (int64_t s = 0; s < K; ++s) {
        const std::string e = "experts." + std::to_string(top_i[s].item<int64_t>());
        auto h = torch::silu(torch::matmul(xt, W(e + ".gate_proj").t())) *
                 torch::matmul(xt, W(e + ".up_proj").t());
        auto out = torch::matmul(h, W(e + ".down_proj").t());
        if (k.mode == TrainMode::kPerftE)
          out = out +
                reference_adapter(
                    leaf, "perft.adapters." + std::to_string(top_i[s].item<int64_t>()), xt, c.peft);
        yt = yt + top_w[s] * out;
      }
      if (k.mode == TrainMode::kPerftR) {
        auto ap = torch::softmax(torch::matmul(xt, W("perft.router").t()), -1)[0];
        adapter_probs.push_back(ap);
        auto [aw, ai] = ap.topk(c.peft.perft_topk);
        aw = aw / aw.sum();
        for (int64_t s = 0; s < c.peft.perft_topk; ++s) {
          const int64_t j = ai[s].item<int64_t>();
          ++adapter_rows[size_t(j)];
          yt = yt +
               aw[s] * reference_adapter(leaf, "perft.adapters." + std::to_string(j), xt, c.peft);
        }
      }
      if (k.mode == TrainMode::kPerftS || k.mode == TrainMode::kPerftD)
        for (int64_t j = 0; j < (k.mode == TrainMode::kPerftS ? 1 : Na); ++j)
          yt = yt + reference_adapter(leaf, "perft.adapters." + std::to_string(j), xt, c.peft);
      rows.push_back(yt);
    }
    auto y_ref = torch::cat(rows);
    auto out = layer(x);
    EXPECT_LT(fixtures::rel_err(out.y_TD, y_ref), 1e-10) << what;
    auto g = torch::randn_like(y_ref);
    auto loss = (out.y_TD * g).sum(), loss_ref = (y_ref * g).sum();
    if (k.mode == TrainMode::kPerftR) {
      // Switch's loss over the adapter router: N_a * sum_j (rows_j / T) * mean_t p_tj.
      auto P = torch::stack(adapter_probs).mean(0);
      auto aux_ref = torch::zeros({}, torch::kFloat64);
      for (int64_t j = 0; j < Na; ++j) aux_ref = aux_ref + double(adapter_rows[j]) / T * P[j];
      aux_ref = aux_ref * double(Na);
      EXPECT_NEAR(out.adapter_aux_loss.item<double>(), aux_ref.item<double>(), 1e-12) << what;
      EXPECT_EQ(out.global_rows_per_adapter, adapter_rows) << what;
      loss = loss + 0.3 * out.adapter_aux_loss;
      loss_ref = loss_ref + 0.3 * aux_ref;
    } else {
      EXPECT_FALSE(out.adapter_aux_loss.defined()) << what;
    }
    loss.backward();
    loss_ref.backward();
    int64_t compared = 0;
    for (auto& p : layer->named_parameters()) {
      if (p.key().rfind("perft.", 0) != 0) continue;
      ASSERT_TRUE(p.value().grad().defined()) << what << ": " << p.key();
      EXPECT_LT(fixtures::rel_err(p.value().grad(), leaf[p.key()].grad()), 1e-10)
          << what << ": " << p.key();
      ++compared;
    }
    const int64_t modules = c.peft.perft_modules(k.mode, c.model);
    EXPECT_EQ(compared, 2 * modules + (k.mode == TrainMode::kPerftR ? 1 : 0)) << what;
  }
}

TEST(Perft, AtInitialisationEveryVariantIsTheFrozenModelExactly) {
  auto build = [](const config::RunConfig& c, fixtures::SoloModel& m) {
    m.groups = fixtures::solo_groups(c.model.num_local_experts);
    m.backend = dist::make_backend("mpi", torch::kCPU);
    m.model = model::Transformer(c.model, m.groups, *m.backend,
                                 peft::build_options(c.train, c.peft, c.model, torch::kFloat64));
    m.model->to(torch::kFloat64);
    model::init_weights(*m.model, 7);
    model::init_adapters(*m.model, 7);
  };
  fixtures::SoloModel plain;
  build(perft_config(TrainMode::kMofe), plain);
  auto ids = torch::randint(0, 64, {2, 12}, torch::kLong);
  torch::NoGradGuard no_grad;
  const auto ref = plain.model->forward(ids).logits_BSV;
  for (auto mode : kVariants)
    for (const char* kind : {"lora", "parallel"}) {
      fixtures::SoloModel m;
      build(perft_config(mode, "float64", kind), m);
      int64_t adapters = 0, nonzero_down = 0;
      for (const auto& e : m.model->params().entries()) {
        adapters += e.role.is_adapter();
        if (e.name.find("down.weight") != std::string::npos)
          nonzero_down += e.value().abs().sum().item<double>() > 0;
      }
      EXPECT_GT(adapters, 0);
      EXPECT_GT(nonzero_down, 0) << "down projections start random (only up starts at zero)";
      EXPECT_TRUE(torch::equal(m.model->forward(ids).logits_BSV, ref))
          << config::to_string(mode) << " " << kind;
    }
}

TEST(Perft, FrozenMeansFrozenAndOnlyAdaptersHoldOptimizerState) {
  for (auto mode : kVariants)
    for (const char* storage : {"fp32", "nf4"}) {
      if (std::string(storage) == "nf4" && mode != TrainMode::kPerftR && mode != TrainMode::kPerftE)
        continue;
      auto c = perft_config(mode, "float32");
      c.peft.frozen_dtype = storage;
      if (mode == TrainMode::kPerftR) c.peft.perft_aux_coef = 0.01;
      auto run = fixtures::make_run(c);
      auto& t = *run->trainer;
      const auto& table = t.model()->params();
      std::map<std::string, torch::Tensor> before;
      int64_t nf4 = 0;
      for (const auto& e : table.entries()) {
        before[e.name] = e.value().clone();
        nf4 += e.frozen && e.frozen->storage() == quant::WeightStorage::kNf4;
      }
      if (std::string(storage) == "nf4") {
        EXPECT_GT(nf4, 0);
      }
      for (int64_t s = 0; s < 3; ++s) t.train_step({fixtures::synthetic_batch(c, s * 2, 2)}, s);
      int64_t adapters = 0, changed = 0;
      for (const auto& e : table.entries()) {
        const bool same = torch::equal(e.value(), before[e.name]);
        if (e.role.is_adapter()) {
          ++adapters;
          changed += same ? 0 : 1;
          EXPECT_TRUE(e.trainable()) << e.name;
        } else {
          EXPECT_TRUE(same) << config::to_string(mode) << ": " << e.name << " changed";
          EXPECT_FALSE(e.trainable()) << e.name;
        }
      }
      EXPECT_EQ(changed, adapters) << config::to_string(mode) << " " << storage;
      EXPECT_EQ(t.optimizer().state_count(), adapters) << config::to_string(mode);
    }
}

TEST(Perft, EmbeddedAdaptersLiveWithTheirExpertAndTheRestIsReplicated) {
  for (auto mode : kVariants) {
    auto c = perft_config(mode, "float32");
    auto run = fixtures::make_run(c);
    for (const auto& e : run->trainer->model()->params().entries()) {
      if (!e.role.is_adapter()) continue;
      if (e.name.find(".perft.router.") != std::string::npos) {  // perft-r's: replicated
        EXPECT_EQ(e.role.grad_sum(), model::GradSum::kWorld) << e.name;
        continue;
      }
      const auto at = e.name.find(".perft.adapters.");
      ASSERT_NE(at, std::string::npos) << e.name;
      const int64_t j = std::stoll(e.name.substr(at + 16));
      if (mode == TrainMode::kPerftE) {
        EXPECT_EQ(e.role.expert, j) << e.name;
        EXPECT_EQ(e.role.grad_sum(), model::GradSum::kExpertReplicas) << e.name;
      } else {
        EXPECT_EQ(e.role.grad_sum(), model::GradSum::kWorld) << e.name;
      }
    }
  }
}

TEST(Perft, TrainableCountsMatchClosedForms) {
  // TinyLlama's shapes with 8 experts, D_B 16, 4 adapters top-2: per layer
  // R: N_a 2 D D_B + N_a D; E: E 2 D D_B; S: 2 D D_B; D: N_a 2 D D_B.
  config::ModelConfig tl;
  tl.hidden_size = 2048, tl.intermediate_size = 5632, tl.num_hidden_layers = 22;
  tl.num_attention_heads = 32, tl.num_key_value_heads = 4, tl.vocab_size = 32000;
  tl.num_local_experts = 8;
  config::PeftConfig p;
  p.perft_rank = 16, p.perft_adapters = 4, p.perft_topk = 2;
  const int64_t D = 2048, L = 22, DB = 16;
  const std::map<TrainMode, int64_t> closed = {{TrainMode::kPerftR, L * (4 * 2 * D * DB + 4 * D)},
                                               {TrainMode::kPerftE, L * (8 * 2 * D * DB)},
                                               {TrainMode::kPerftS, L * (2 * D * DB)},
                                               {TrainMode::kPerftD, L * (4 * 2 * D * DB)}};
  for (const auto& [mode, n] : closed) {
    config::TrainConfig t;
    t.mode = mode;
    const auto count = model::count_parameters(tl, t, p);
    EXPECT_EQ(count.trainable, n) << config::to_string(mode);
    EXPECT_EQ(count.adapters, n) << config::to_string(mode);
    config::RunConfig rc;
    rc.model = tl, rc.train = t, rc.peft = p;
    rc.validate(1);
    EXPECT_EQ(train::plan_memory(rc).trainable, n) << config::to_string(mode);
    EXPECT_EQ(int64_t(peft::perft_layout(tl, peft::perft_spec(mode, p, tl)).size()),
              L * (2 * p.perft_modules(mode, tl) + (mode == TrainMode::kPerftR ? 1 : 0)));
  }
  // Built: the table's trainable tensors add up to the closed form, and match the layout.
  for (auto mode : kVariants) {
    auto c = perft_config(mode, "float32");
    auto run = fixtures::make_run(c);
    int64_t trainable = 0;
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const auto& e : run->trainer->model()->params().entries())
      if (e.trainable()) trainable += e.numel(), shapes[e.name] = e.shape();
    EXPECT_EQ(trainable, model::count_parameters(c.model, c.train, c.peft).trainable)
        << config::to_string(mode);
    const auto layout =
        peft::perft_layout(c.model, peft::perft_spec(c.train.mode, c.peft, c.model));
    ASSERT_EQ(layout.size(), shapes.size()) << config::to_string(mode);
    for (const auto& s : layout) EXPECT_EQ(shapes[s.name], s.shape) << s.name;
  }
}

TEST(Perft, TheTinyModelsLossFallsInEveryVariant) {
  for (auto mode : kVariants) {
    auto c = perft_config(mode, "float32");
    c.train.lr = 1e-2;
    c.train.steps = 60;
    c.peft.perft_rank = 8;
    auto run = fixtures::make_run(c);
    std::vector<double> losses;
    for (int64_t s = 0; s < c.train.steps; ++s)
      losses.push_back(
          run->trainer->train_step({fixtures::synthetic_batch(c, (s % 8) * 4, 4)}, s).loss);
    const double first = (losses[0] + losses[1] + losses[2]) / 3;
    const double last = (losses[57] + losses[58] + losses[59]) / 3;
    EXPECT_LT(last, 0.95 * first) << config::to_string(mode) << ": " << first << " -> " << last;
  }
}

TEST(Perft, BadOptionsAreOneClearLine) {
  auto refused = [](std::vector<std::string> args, const std::string& what) {
    try {
      auto parsed = config::parse_run_config(args);
      parsed.config.validate(1);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const UsageError& e) {
      EXPECT_THAT(e.what(), HasSubstr(what));
    }
  };
  refused({"--mode", "perft-r", "--perft-adapters", "2", "--perft-topk", "3"},
          "--perft-topk 3 must be in [1, --perft-adapters 2]");
  refused({"--mode", "perft-e", "--num-experts", "0", "--ep-size", "1"},
          "perft-e needs pretrained experts and their router");
  refused({"--mode", "perft-s", "--num-experts", "0", "--ep-size", "1"}, "this model is dense");
  refused({"--mode", "perft-d", "--perft-rank", "0"},
          "--perft-rank must be a positive bottleneck size, got 0");
  refused({"--mode", "perft-r", "--perft-adapter", "houlsby"}, "--perft-adapter: unknown kind");
  refused({"--mode", "perft-r", "--perft-adapter", "parallel", "--perft-act", "tanh"},
          "--perft-act: unknown activation 'tanh'");
  refused({"--mode", "perft-s", "--perft-aux-coef", "0.1"}, "perft-s has none");
  refused({"--mode", "perft-r", "--train-router"}, "--train-router");
}
