// GPU tests (built with MOFE_WITH_CUDA, run on a GPU machine): the model computes the same on
// the GPU as on the CPU, trains there, and the NCCL backend moves rows and sums correctly.
// With one GPU and 2 ranks both ranks share it (MPI backend, staged through host memory).
#include <gtest/gtest.h>

#include "mofe/config/runtime_config.h"
#include "mofe/core/device.h"
#include "mofe/dist/backend.h"
#include "mofe/train/trainer.h"
#include "support/tiny.h"

using namespace mofe;

namespace {

torch::Device gpu() {
  config::RuntimeConfig rt;
  rt.device = "cuda";
  int local = 0;
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local);
  MPI_Comm_free(&node);
  return core::select_device(rt, local);
}

struct Grads {
  double loss;
  std::map<std::string, torch::Tensor> g;
};

Grads forward_backward(const config::RunConfig& cfg, const dist::ProcessGroups& groups,
                       torch::Device device, int64_t first, int64_t count) {
  auto backend = dist::make_backend("mpi", device);
  train::Trainer t(cfg, groups, *backend, device);
  Grads out;
  out.loss = t.forward_backward({fixtures::synthetic_batch(cfg, first, count)}).first;
  for (const auto& p : t.model()->named_parameters())
    if (p.value().grad().defined()) out.g[p.key()] = p.value().grad().cpu();
  return out;
}

}  // namespace

TEST(Cuda, SameLossAndGradientsAsCpu) {
  ASSERT_TRUE(torch::cuda::is_available());
  auto world = dist::Communicator::world();
  auto cfg = fixtures::tiny_config(4, "float64");
  cfg.train.mode = config::TrainMode::kFull;
  cfg.parallel.ep_size = world.size();
  cfg.parallel.resolve(world.size(), 4);
  auto solo = fixtures::solo_groups(4);
  Grads ref = forward_backward(cfg, solo, torch::kCPU, 0, 2 * world.size());
  auto groups = fixtures::world_groups(world.size(), 4);
  Grads got = forward_backward(cfg, groups, gpu(), 2 * world.rank(), 2);
  EXPECT_NEAR(got.loss, ref.loss, 1e-10 * ref.loss);
  for (const auto& [name, g] : got.g) EXPECT_LT(fixtures::rel_err(g, ref.g[name]), 1e-10) << name;
}

TEST(Cuda, TrainsAndFreezesOnGpu) {
  auto world = dist::Communicator::world();
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.train.micro_batch = 8;
  cfg.train.seq_len = 32;
  cfg.train.lr = 1e-2;
  cfg.train.steps = 60;
  cfg.parallel.ep_size = world.size();
  cfg.parallel.resolve(world.size(), 4);
  auto groups = fixtures::world_groups(world.size(), 4);
  auto backend = dist::make_backend("mpi", gpu());
  train::Trainer t(cfg, groups, *backend, gpu());
  auto before = fixtures::snapshot(*t.model());
  double first = 0, last = 0;
  for (int64_t s = 0; s < cfg.train.steps; ++s) {
    auto batch = fixtures::synthetic_batch(cfg, (s * world.size() + world.rank()) * 8, 8);
    (s == 0 ? first : last) = t.train_step({batch}, s).loss;
  }
  EXPECT_LT(last, 0.7 * first);
  for (const auto& p : t.model()->named_parameters()) {
    EXPECT_TRUE(p.value().is_cuda()) << p.key();
    if (fixtures::expert_of(*t.model(), p.key()) >= 0) {
      EXPECT_TRUE(torch::equal(p.value().cpu(), before[p.key()].cpu())) << p.key();
    }
  }
}

#ifdef MOFE_WITH_NCCL
TEST(Nccl, AllReduceAndRowExchange) {
  auto world = dist::Communicator::world();
  if (world.size() > static_cast<int>(torch::cuda::device_count()))
    GTEST_SKIP() << "NCCL needs one GPU per rank";
  auto nccl = dist::make_backend("nccl", gpu());
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(gpu());
  auto t = torch::full({5}, float(world.rank() + 1), opts);
  nccl->all_reduce_sum(t, world);
  const float expect = world.size() * (world.size() + 1) / 2.0f;
  EXPECT_TRUE(torch::all(t.cpu() == expect).item<bool>());
  // Rank r sends r+1 rows to every peer; each row holds the sender's rank.
  std::vector<int64_t> send(world.size(), world.rank() + 1), recv(world.size());
  for (int r = 0; r < world.size(); ++r) recv[r] = r + 1;
  int64_t n = (world.rank() + 1) * world.size();
  auto x = torch::full({n, 3}, float(world.rank()), opts);
  auto y = nccl->all_to_all_rows(x, send, recv, world).cpu();
  int64_t row = 0;
  for (int r = 0; r < world.size(); ++r)
    for (int64_t i = 0; i < r + 1; ++i, ++row) EXPECT_EQ(y[row][0].item<float>(), float(r));
}
#endif
