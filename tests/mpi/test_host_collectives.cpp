// The Communicator's host collectives (#11 item 16): sums, max/min, gathers of bytes and a
// broadcast give what MPI would, on any number of ranks, and each passes through the
// collective trace and the host byte counters.
#include <gtest/gtest.h>

#include "mofe/dist/collective_trace.h"
#include "mofe/dist/communicator.h"

using namespace mofe;

TEST(HostCollectives, ReduceGatherBroadcast) {
  auto world = dist::Communicator::world();
  const int r = world.rank(), n = world.size();
  const auto before = dist::host_collective_stats();
  std::vector<int64_t> v{r, 10 * r};
  world.all_reduce(v, dist::Reduce::kSum);
  EXPECT_EQ(v[0], int64_t(n) * (n - 1) / 2);
  EXPECT_EQ(world.all_reduce(int64_t(r), dist::Reduce::kMax), n - 1);
  EXPECT_EQ(world.all_reduce(double(r) + 0.5, dist::Reduce::kMin), 0.5);
  EXPECT_EQ(world.all_true(true), true);
  EXPECT_EQ(world.all_true(r != n - 1), n == 1);
  EXPECT_NE(dist::describe_last_collective().find("all_reduce (host) on world"), std::string::npos);
  // Bytes of every length, rank order.
  const std::string mine(size_t(r) * 3, char('a' + r));
  auto all = world.all_gather(mine);
  ASSERT_EQ(int(all.size()), n);
  for (int k = 0; k < n; ++k) EXPECT_EQ(all[size_t(k)], std::string(size_t(k) * 3, char('a' + k)));
  const auto values = world.all_gather(1.5 * r - 7);  // one number per rank, rank order
  ASSERT_EQ(int(values.size()), n);
  for (int k = 0; k < n; ++k) EXPECT_EQ(values[size_t(k)], 1.5 * k - 7);
  auto at_root = world.gather(mine, n - 1);
  EXPECT_EQ(at_root.size(), r == n - 1 ? size_t(n) : 0u);
  if (r == n - 1) {
    EXPECT_EQ(at_root, all);
  }
  std::string text;
  if (r == 0) text = std::string("from rank 0, with \0 inside", 26);
  world.broadcast(text, 0);
  EXPECT_EQ(text, std::string("from rank 0, with \0 inside", 26));
  const auto after = dist::host_collective_stats();
  EXPECT_GE(after.calls - before.calls, 8);
  EXPECT_GT(after.bytes, before.bytes);
}
