// The token exchange over the real world communicator: dispatch then combine with unit weights
// returns the input, and the backward pass returns the upstream gradient (any np).
#include <gtest/gtest.h>

#include "mofe/dist/backend.h"
#include "mofe/moe/combine.h"
#include "mofe/moe/token_exchange.h"
#include "support/tiny.h"

using namespace mofe;

TEST(TokenExchange, DispatchThenCombineIsIdentityForwardAndBackward) {
  auto world = dist::Communicator::world();
  const int64_t E = 2 * world.size(), T = 7 + world.rank(), K = 2, D = 5;
  auto groups = fixtures::world_groups(world.size(), E);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  torch::manual_seed(100 + world.rank());
  // Two distinct experts per token, some owned by other ranks.
  auto ids = torch::stack({torch::randint(0, E / 2, {T}), torch::randint(E / 2, E, {T})}, 1)
                 .to(torch::kLong);
  auto plan = moe::DispatchPlan::build(ids, groups.placement, groups.ep, *backend);

  auto x = torch::randn({T, D}, torch::kDouble).set_requires_grad(true);
  auto x_ND = x.index_select(0, plan.token_idx_N);
  auto x_MD = moe::exchange(x_ND, plan, moe::Direction::kDispatch, *backend, groups.ep);
  int64_t m = 0;
  for (auto r : plan.rows_per_local_expert) m += r;
  EXPECT_EQ(x_MD.size(0), m);
  // Every received row belongs to a local expert: routing is consistent across ranks.
  auto y_ND = moe::exchange(x_MD * 1.0, plan, moe::Direction::kCombine, *backend, groups.ep);
  auto half = torch::full({T, K}, 0.5, torch::kDouble);
  auto y = moe::combine(y_ND, plan, half);
  EXPECT_TRUE(torch::equal(y, x));

  auto upstream = torch::randn({T, D}, torch::kDouble);
  y.backward(upstream);
  EXPECT_LT(fixtures::rel_err(x.grad(), upstream), 1e-15);
}

TEST(TokenExchange, RowsArriveAtTheirExpertsOwner) {
  auto world = dist::Communicator::world();
  const int64_t E = world.size(), T = 6 + world.size(), D = 3;
  auto groups = fixtures::world_groups(world.size(), E);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  // Token t of rank r goes to experts (t % E) and ((t + 1) % E); its payload encodes the expert.
  auto t = torch::arange(T);
  auto ids = torch::stack({t % E, (t + 1) % E}, 1).to(torch::kLong);
  auto plan = moe::DispatchPlan::build(ids, groups.placement, groups.ep, *backend);
  auto expert_of_row = ids.reshape({-1}).index_select(0, plan.sort_idx_N).to(torch::kDouble);
  auto payload = expert_of_row.unsqueeze(1).expand({-1, D}).contiguous();
  auto got = moe::exchange(payload, plan, moe::Direction::kDispatch, *backend, groups.ep);
  EXPECT_TRUE(torch::all(got == double(groups.placement.first_local())).item<bool>());
  // Every rank routes the same ids, so this expert receives world x its local count.
  const int64_t per_rank = (ids == groups.placement.first_local()).sum().item<int64_t>();
  EXPECT_EQ(got.size(0), world.size() * per_rank);
}
