// Merging under MPI: the prompt forward passes split over ranks give the routers of one
// process (to float64 summation order), and a model directory written by N ranks is the same
// as one written by one.
#include <gtest/gtest.h>

#include <filesystem>

#include "mofe/ckpt/model_dir.h"
#include "mofe/io/seeded_model.h"
#include "mofe/merge/gate_init.h"

using namespace mofe;

TEST(MergeMpi, PromptPassesSplitOverRanksGiveTheSameRouters) {
  auto world = dist::Communicator::world();
  auto self = dist::Communicator::dup(MPI_COMM_SELF, "self");
  config::ModelConfig cfg;
  cfg.num_local_experts = 0;
  cfg.hidden_size = 32, cfg.intermediate_size = 40, cfg.num_hidden_layers = 2;
  cfg.vocab_size = 60;
  io::SeededModel base(cfg, 3, torch::kFloat64, 0.2);
  std::vector<merge::ExpertPrompts> experts = {
      {{{1, 4, 5}, {1, 9}, {1, 10, 11, 12}, {1, 2}, {1, 50, 51}}, {{1, 7, 7}}},
      {{{1, 20, 21, 22, 23}, {1, 30}}, {}}};
  for (const char* mode : {"hidden", "hidden_avg", "hidden_avg_masked"}) {
    auto split = merge::gate_vectors(mode, base, experts, 1, world, 0, torch::kFloat64);
    auto alone = merge::gate_vectors(mode, base, experts, 1, self, 0, torch::kFloat64);
    EXPECT_TRUE(torch::allclose(split, alone, 1e-12, 1e-12)) << mode;
  }
}

TEST(MergeMpi, ModelDirWrittenByAllRanksMatchesOneWriter) {
  auto world = dist::Communicator::world();
  auto self = dist::Communicator::dup(MPI_COMM_SELF, "self");
  config::ModelConfig cfg;
  cfg.num_local_experts = 4;
  cfg.hidden_size = 16, cfg.intermediate_size = 24, cfg.num_hidden_layers = 2;
  cfg.vocab_size = 40;
  io::SeededModel src(cfg, 9, torch::kFloat);
  ckpt::ModelDirInfo info{cfg, "F32", {}, {}};
  const std::string base = ::testing::TempDir() + "mofe_mdir_np" + std::to_string(world.size());
  const std::string all = base + "_all", one = base + "_one_r" + std::to_string(world.rank());
  auto get = [&](const std::string& n) { return src.load(n); };
  const auto a = ckpt::write_model_dir(all, info, get, world);
  const auto b = ckpt::write_model_dir(one, info, get, self);
  EXPECT_EQ(a, b);
}
