// The dispatch plan's local steps on hand-written routings.
#include <gtest/gtest.h>

#include "mofe/moe/dispatch_plan.h"

using namespace mofe::moe;

TEST(DispatchPlan, CountsRowsPerExpert) {
  auto ids = torch::tensor({3, 1, 1, 0, 3, 2}, torch::kLong).view({3, 2});
  EXPECT_EQ(count_rows_per_expert(ids, 5), (std::vector<int64_t>{1, 2, 1, 2, 0}));
}

TEST(DispatchPlan, PermuteIsStableSortByExpert) {
  auto ids = torch::tensor({3, 1, 1, 0, 3, 2}, torch::kLong).view({3, 2});
  auto order = permute_by_expert(ids);
  std::vector<int64_t> got(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + 6);
  // flat ids: [3,1,1,0,3,2] -> expert 0: row 3; 1: rows 1,2; 2: row 5; 3: rows 0,4
  EXPECT_EQ(got, (std::vector<int64_t>{3, 1, 2, 5, 0, 4}));
}

TEST(DispatchPlan, OrderByLocalExpertMakesExpertMajorSlices) {
  // 2 source ranks, 2 local experts. Received (source-major): s0: e0 x2, e1 x1; s1: e0 x1, e1 x3
  // buffer rows: [s0e0 s0e0 s0e1 s1e0 s1e1 s1e1 s1e1] = indices 0..6
  auto order = order_by_local_expert({2, 1, 1, 3}, 2, 2);
  std::vector<int64_t> got(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
  EXPECT_EQ(got, (std::vector<int64_t>{0, 1, 3, 2, 4, 5, 6}));
}

TEST(DispatchPlan, SingleRankPlanRoundTrip) {
  auto self = mofe::dist::Communicator::dup(MPI_COMM_SELF, "self");
  mofe::dist::ExpertPlacement placement{4, 1, 0};
  auto backend = mofe::dist::make_backend("mpi", torch::kCPU);
  auto ids = torch::tensor({3, 1, 1, 0, 3, 2, 0, 2}, torch::kLong).view({4, 2});
  auto plan = DispatchPlan::build(ids, placement, self, *backend);
  EXPECT_EQ(plan.send_rows, (std::vector<int64_t>{8}));
  EXPECT_EQ(plan.recv_rows, (std::vector<int64_t>{8}));
  EXPECT_EQ(plan.rows_per_local_expert, (std::vector<int64_t>{2, 2, 2, 2}));
  // Each sorted row belongs to the token it was routed from, experts ascending.
  auto sorted_ids = ids.reshape({-1}).index_select(0, plan.sort_idx_N);
  EXPECT_TRUE(torch::equal(sorted_ids, torch::tensor({0, 0, 1, 1, 2, 2, 3, 3}, torch::kLong)));
  EXPECT_TRUE(torch::equal(plan.token_idx_N, plan.sort_idx_N.div(2, "floor")));
}
