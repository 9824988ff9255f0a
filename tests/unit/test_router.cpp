// TopKRouter and the load-balancing loss.
#include <gtest/gtest.h>

#include "mofe/moe/load_balance.h"
#include "mofe/moe/router.h"

using namespace mofe::moe;

TEST(Router, TopKWeightsAreRenormalisedTopProbabilities) {
  torch::manual_seed(0);
  TopKRouter router(TopKRouterOptions(16, 6).top_k(2));
  auto x = torch::randn({10, 16});
  RoutingResult r = router(x);
  ASSERT_EQ(r.topk_ids_TK.sizes(), (std::vector<int64_t>{10, 2}));
  EXPECT_TRUE(torch::allclose(r.topk_weights_TK.sum(-1), torch::ones({10})));
  EXPECT_TRUE(torch::allclose(r.probs_TE.sum(-1), torch::ones({10})));
  auto sorted = std::get<0>(r.probs_TE.sort(-1, true));
  for (int64_t t = 0; t < 10; ++t) {
    // The chosen experts are the two most probable ones.
    EXPECT_FLOAT_EQ(r.probs_TE[t][r.topk_ids_TK[t][0]].item<float>(), sorted[t][0].item<float>());
    EXPECT_FLOAT_EQ(r.probs_TE[t][r.topk_ids_TK[t][1]].item<float>(), sorted[t][1].item<float>());
    const float p0 = sorted[t][0].item<float>(), p1 = sorted[t][1].item<float>();
    EXPECT_NEAR(r.topk_weights_TK[t][0].item<float>(), p0 / (p0 + p1), 1e-6);
  }
}

TEST(LoadBalance, BalancedRouterGivesTopK) {
  // Uniform probabilities and perfectly even counts: aux = E * sum_e (K/E) * (1/E) = K.
  const int64_t T = 8, E = 4, K = 2;
  auto probs = torch::full({T, E}, 1.0 / E, torch::kDouble);
  auto counts = torch::full({E}, T * K / E, torch::kLong);
  EXPECT_NEAR(load_balance_loss(probs, counts, T).item<double>(), double(K), 1e-12);
}

TEST(LoadBalance, MatchesClosedFormAndSplitsOverRanks) {
  torch::manual_seed(1);
  const int64_t T = 12, E = 3;
  auto probs = torch::softmax(torch::randn({T, E}, torch::kDouble), -1);
  auto counts = torch::tensor({10, 6, 8}, torch::kLong);
  double expect = 0;
  for (int64_t e = 0; e < E; ++e)
    expect += (counts[e].item<double>() / T) * probs.select(1, e).mean().item<double>();
  expect *= E;
  EXPECT_NEAR(load_balance_loss(probs, counts, T).item<double>(), expect, 1e-12);
  // Two "ranks" holding halves of the tokens: their shares add up to the global value.
  auto a = load_balance_loss(probs.slice(0, 0, 5), counts, T).item<double>();
  auto b = load_balance_loss(probs.slice(0, 5, T), counts, T).item<double>();
  EXPECT_NEAR(a + b, expect, 1e-12);
}
