// Gradient synchronisation: frozen parameters never enter a collective; dense gradients are
// identical on every rank; global norm counts each expert once.
#include <gtest/gtest.h>

#include "mofe/dist/backend.h"
#include "mofe/train/grad_clip.h"
#include "mofe/train/trainer.h"
#include "support/tiny.h"

using namespace mofe;

TEST(GradSync, FrozenExpertsNeverCommunicated) {
  auto world = dist::Communicator::world();
  auto cfg = fixtures::tiny_config(4, "float64");  // mofe mode
  cfg.parallel.ep_size = world.size() >= 2 ? 2 : 1;
  cfg.parallel.resolve(world.size(), 4);
  auto groups = fixtures::world_groups(cfg.parallel.ep_size, 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer trainer(cfg, groups, *backend, torch::kCPU);
  backend->stats().reset();
  trainer.forward_backward({fixtures::synthetic_batch(cfg, world.rank() * 2, 2)});
  // All-reduced tensor bytes = exactly the dense trainable gradients (experts are frozen).
  const int64_t dense_bytes = trainer.params().dense.numel() * 8;
  EXPECT_EQ(backend->stats().all_reduce_bytes, world.size() > 1 ? dense_bytes : 0);
  for (const auto& p : trainer.params().frozen.params) EXPECT_FALSE(p.grad().defined());
}

TEST(GradSync, DenseGradientsIdenticalOnEveryRankAndNormAgrees) {
  auto world = dist::Communicator::world();
  auto cfg = fixtures::tiny_config(4, "float64");
  cfg.train.mode = config::TrainMode::kFull;
  cfg.parallel.ep_size = world.size() % 4 == 0 ? 4 : (world.size() % 2 == 0 ? 2 : 1);
  cfg.parallel.resolve(world.size(), 4);
  auto groups = fixtures::world_groups(cfg.parallel.ep_size, 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer trainer(cfg, groups, *backend, torch::kCPU);
  trainer.forward_backward({fixtures::synthetic_batch(cfg, world.rank() * 2, 2)});
  for (auto& p : trainer.params().dense.params) {
    auto g = p.grad().clone();
    auto g0 = g.clone();
    backend->broadcast(g0, 0, groups.world);
    EXPECT_TRUE(torch::equal(g, g0));
  }
  const double norm = train::global_grad_norm(trainer.params(), groups, *backend);
  // Reference: the same gradients on one process.
  auto solo = fixtures::solo_groups(4);
  auto backend1 = dist::make_backend("mpi", torch::kCPU);
  train::Trainer ref(cfg, solo, *backend1, torch::kCPU);
  ref.forward_backward({fixtures::synthetic_batch(cfg, 0, 2 * world.size())});
  const double ref_norm = train::global_grad_norm(ref.params(), solo, *backend1);
  EXPECT_NEAR(norm, ref_norm, 1e-10 * ref_norm);
}
