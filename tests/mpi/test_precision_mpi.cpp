// #13 over ranks: a gradient overflow on one rank makes every rank skip the step and halve the
// loss scale, which grows back after the window; gradients summed in bf16 over the wire agree
// with the float32 sum to bf16's resolution, and a bf16 all-reduce adds correctly.
#include <gtest/gtest.h>

#include <cstdlib>

#include "mofe/core/fault.h"
#include "mofe/dist/backend.h"
#include "mofe/train/trainer.h"
#include "support/tiny.h"

using namespace mofe;

namespace {

// Sets MOFE_FAULT for the duration of a test (the fault state is process-wide, like a signal).
struct FaultEnv {
  explicit FaultEnv(const char* spec, int rank) {
    setenv("MOFE_FAULT", spec, 1);
    fault::configure_from_env(rank);
  }
  ~FaultEnv() {
    unsetenv("MOFE_FAULT");
    fault::configure_from_env(0);
  }
};

}  // namespace

TEST(LossScaleMpi, AnOverflowOnOneRankSkipsTheStepEverywhereAndHalvesTheScale) {
  auto world = dist::Communicator::world();
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.runtime.loss_scale = "dynamic";
  cfg.runtime.loss_scale_window = 2;
  cfg.validate(world.size());
  auto groups = fixtures::world_groups(world.size(), 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer trainer(cfg, groups, *backend, torch::kCPU);
  // Rank 1's gradients overflow at step 3 only.
  FaultEnv fault("grad:inf:1:3", world.rank());
  std::vector<train::StepStats> steps;
  std::map<std::string, torch::Tensor> before_3, after_3;
  for (int64_t s = 0; s < 6; ++s) {
    if (s == 2) before_3 = fixtures::snapshot(*trainer.model());
    auto b = fixtures::synthetic_batch(cfg, (s * world.size() + world.rank()) * 2, 2);
    steps.push_back(trainer.train_step({b}, s));
    if (s == 2) after_3 = fixtures::snapshot(*trainer.model());
  }
  // Steps 1, 2 good (scale 2^16, then doubled after the window of 2); step 3 overflows on every
  // rank (rank 0's gradients were finite), no update; then 2 good steps double it again.
  std::vector<double> expected_scale = {65536, 65536, 131072, 65536, 65536, 131072};
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].loss_scale, expected_scale[i]) << "step " << i + 1;
    EXPECT_EQ(steps[i].skipped, i == 2) << "step " << i + 1;
    EXPECT_EQ(steps[i].overflow, i == 2) << "step " << i + 1;
    EXPECT_TRUE(std::isfinite(steps[i].loss));
  }
  // The skipped step left every weight as it was, and the optimizer did 5 updates.
  for (const auto& [name, v] : after_3) EXPECT_TRUE(torch::equal(v, before_3.at(name))) << name;
  EXPECT_EQ(trainer.optimizer().steps_taken(), 5);
  // Every rank agrees on the scale.
  std::vector<double> scale{trainer.loss_scaler().scale()};
  std::vector<double> mx = scale, mn = scale;
  world.all_reduce(mx, dist::Reduce::kMax);
  world.all_reduce(mn, dist::Reduce::kMin);
  EXPECT_EQ(mx[0], mn[0]);
}

TEST(LossScaleMpi, ASkippedStepLeavesEveryWeightUnchanged) {
  auto world = dist::Communicator::world();
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.runtime.loss_scale = "dynamic";
  cfg.validate(world.size());
  auto groups = fixtures::world_groups(world.size(), 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer trainer(cfg, groups, *backend, torch::kCPU);
  FaultEnv fault("grad:inf:1:1", world.rank());
  const auto before = fixtures::snapshot(*trainer.model());
  auto b = fixtures::synthetic_batch(cfg, world.rank() * 2, 2);
  const auto s = trainer.train_step({b}, 0);
  EXPECT_TRUE(s.skipped);
  EXPECT_EQ(trainer.loss_scaler().scale(), 32768.0);
  for (const auto& [name, v] : fixtures::snapshot(*trainer.model()))
    EXPECT_TRUE(torch::equal(v, before.at(name))) << name;
}

TEST(GradReduceMpi, Bf16WireSumsLikeFloat32ToBf16Resolution) {
  auto world = dist::Communicator::world();
  auto backend = dist::make_backend("mpi", torch::kCPU);
  // The all-reduce itself: small integers are exact in bf16.
  auto t = torch::full({1000}, double(world.rank() + 1), torch::kBFloat16);
  backend->all_reduce_sum(t, world);
  const double n = world.size();
  EXPECT_TRUE(torch::equal(t, torch::full({1000}, n * (n + 1) / 2, torch::kBFloat16)));

  // Training gradients: bf16 wire against float32 wire, same batch.
  auto grads = [&](const std::string& wire) {
    auto cfg = fixtures::tiny_config(4, "float32");
    cfg.train.mode = config::TrainMode::kFull;
    cfg.runtime.grad_reduce_dtype = wire;
    cfg.validate(world.size());
    auto groups = fixtures::world_groups(world.size(), 4);
    train::Trainer trainer(cfg, groups, *backend, torch::kCPU);
    trainer.forward_backward({fixtures::synthetic_batch(cfg, world.rank() * 2, 2)});
    std::map<std::string, torch::Tensor> out;
    for (const auto& p : trainer.model()->named_parameters())
      if (p.value().grad().defined()) {
        EXPECT_EQ(p.value().grad().scalar_type(), torch::kFloat) << p.key();
        out[p.key()] = p.value().grad().clone();
      }
    return out;
  };
  const auto ref = grads("fp32");
  const auto got = grads("bf16");
  ASSERT_EQ(ref.size(), got.size());
  for (const auto& [name, g] : ref) EXPECT_LT(fixtures::rel_err(got.at(name), g), 1e-2) << name;
}
