// MoeLayer on one rank against an independent, straightforward reference: for every token,
// sum over its top-k experts of weight * expert(x), experts evaluated token by token.
#include <gtest/gtest.h>

#include "mofe/dist/backend.h"
#include "mofe/model/transformer.h"
#include "mofe/moe/moe_layer.h"
#include "support/tiny.h"

using namespace mofe;

TEST(MoeLayer, MatchesPerTokenReference) {
  auto cfg = fixtures::tiny_config(4).model;
  auto groups = fixtures::solo_groups(4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  moe::MoeLayer layer(cfg, groups, *backend);
  layer->to(torch::kDouble);
  model::init_weights(*layer, 7);
  auto x = torch::randn({9, cfg.hidden_size}, torch::kDouble);

  auto out = layer(x);
  auto route = layer->router(x);
  auto expect = torch::zeros_like(x);
  for (int64_t t = 0; t < x.size(0); ++t)
    for (int64_t k = 0; k < cfg.num_experts_per_tok; ++k) {
      const int64_t e = route.topk_ids_TK[t][k].item<int64_t>();
      expect[t] += route.topk_weights_TK[t][k] * layer->experts->expert(e)(x[t].unsqueeze(0))[0];
    }
  EXPECT_LT(fixtures::rel_err(out.y_TD, expect), 1e-12);
}

TEST(MoeLayer, GradientFlowsThroughFrozenExpertsToInput) {
  auto cfg = fixtures::tiny_config(4).model;
  auto groups = fixtures::solo_groups(4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  moe::MoeLayer layer(cfg, groups, *backend);
  for (auto& p : layer->experts->parameters()) p.set_requires_grad(false);
  auto x = torch::randn({5, cfg.hidden_size}).set_requires_grad(true);
  layer(x).y_TD.pow(2).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(layer->router->gate->weight.grad().defined());
  for (auto& p : layer->experts->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(MoeLayer, ExpertBankSlicesEqualSeparateCalls) {
  moe::ExpertBank bank(moe::ExpertBankOptions(8, 12).first_expert(2).num_local(3));
  auto x = torch::randn({7, 8});
  auto y = bank->forward(x, {2, 0, 5});
  EXPECT_TRUE(torch::allclose(y.slice(0, 0, 2), bank->expert(0)(x.slice(0, 0, 2))));
  EXPECT_TRUE(torch::allclose(y.slice(0, 2, 7), bank->expert(2)(x.slice(0, 2, 7))));
  // Parameters are named by global expert id, independent of the layout.
  auto names = bank->named_parameters().keys();
  EXPECT_EQ(names.front(), "2.gate_proj.weight");
  EXPECT_EQ(names.back(), "4.down_proj.weight");
}
