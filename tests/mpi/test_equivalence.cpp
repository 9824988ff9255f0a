// The same model and global batch on one process and spread over the world (EP = world, and
// EP x DP = 2 x 2 on 4 ranks) give the same logits, loss and gradients.
#include <gtest/gtest.h>

#include <functional>

#include "mofe/dist/backend.h"
#include "mofe/train/trainer.h"
#include "support/tiny.h"

using namespace mofe;

namespace {

struct Result {
  double loss = 0;
  torch::Tensor logits;
  std::map<std::string, torch::Tensor> grads;
  std::map<std::string, int64_t> expert;  // expert id of each parameter's role (-1: none)
};

// Runs forward+backward(+sync) for `rows` of the global batch with the given groups.
Result run(const config::RunConfig& cfg, const dist::ProcessGroups& groups, int64_t first,
           int64_t count) {
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer trainer(cfg, groups, *backend, torch::kCPU);
  // Adapters leave their initial state (B = 0 would zero A's gradient, PERFT's up = 0 its
  // down's): B, up and DoRA's magnitudes drawn per name, so every layout gets the same values.
  for (const auto& e : trainer.model()->params().entries()) {
    if (!e.role.is_adapter() || e.name.find("lora_A") != std::string::npos) continue;
    const bool zero_at_init = e.name.find("lora_B") != std::string::npos ||
                              e.name.find(".perft.adapters.") != std::string::npos;
    auto v = model::init_parameter(e.name + "#perturb", e.shape(), 5) * 10.0;
    if (e.name.find("down.weight") != std::string::npos) continue;
    e.assign(zero_at_init ? v : e.value() * (1 + v));
  }
  auto batch = fixtures::synthetic_batch(cfg, first, count);
  Result r;
  r.loss = trainer.forward_backward({batch}).first;
  {
    torch::NoGradGuard no_grad;
    r.logits = trainer.model()(batch.input_ids_BS).logits_BSV;
  }
  for (const auto& p : trainer.model()->named_parameters()) {
    if (p.value().grad().defined()) r.grads[p.key()] = p.value().grad().clone();
    r.expert[p.key()] = trainer.model()->params().at(p.key()).role.expert;  // adapters too
  }
  return r;
}

void check_layout(int ep, const std::string& dtype, config::TrainMode mode, double tol,
                  const std::function<void(config::RunConfig&)>& tweak = {}) {
  auto world = dist::Communicator::world();
  const int64_t E = 4, per_rank = 2, global = per_rank * world.size();
  auto cfg = fixtures::tiny_config(E, dtype);
  cfg.train.mode = mode;
  // PEFT modes: adapters on attention, on every expert and on the router.
  cfg.peft.lora_targets = {"q_proj", "v_proj", "o_proj", "w1", "w2", "w3", "gate"};
  cfg.peft.lora_alpha = 16;
  cfg.parallel.ep_size = ep;
  if (tweak) tweak(cfg);
  cfg.validate(world.size());

  auto solo = fixtures::solo_groups(E);
  Result ref = run(cfg, solo, 0, global);  // the whole global batch, one process
  auto groups = fixtures::world_groups(ep, E);
  Result got = run(cfg, groups, world.rank() * per_rank, per_rank);

  EXPECT_LT(std::abs(got.loss - ref.loss) / ref.loss, tol);
  EXPECT_LT(fixtures::rel_err(got.logits, ref.logits.slice(0, world.rank() * per_rank,
                                                           (world.rank() + 1) * per_rank)),
            tol);
  int64_t compared = 0;
  for (const auto& [name, g] : got.grads) {
    ASSERT_TRUE(ref.grads.count(name)) << name;
    EXPECT_LT(fixtures::rel_err(g, ref.grads[name]), tol) << name;
    ++compared;
  }
  // Every trainable parameter held here was compared (frozen ones have no gradient at all).
  int64_t trainable_here = 0;
  for (const auto& [name, g] : ref.grads)
    if (ref.expert[name] < 0 || groups.placement.is_local(ref.expert[name])) ++trainable_here;
  EXPECT_EQ(compared, trainable_here);
  EXPECT_GT(compared, 0);
}

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

}  // namespace

TEST(Equivalence, ExpertParallelFloat64Full) {
  check_layout(world_size(), "float64", config::TrainMode::kFull, 1e-12);
}
TEST(Equivalence, ExpertParallelFloat64Mofe) {
  check_layout(world_size(), "float64", config::TrainMode::kMofe, 1e-12);
}
TEST(Equivalence, ExpertParallelFloat32Full) {
  check_layout(world_size(), "float32", config::TrainMode::kFull, 1e-5);
}
TEST(Equivalence, ExpertTimesDataParallelFloat64Full) {
  if (world_size() % 2 != 0 || world_size() < 4) GTEST_SKIP() << "needs 4 ranks for EP 2 x DP 2";
  check_layout(2, "float64", config::TrainMode::kFull, 1e-12);
}
TEST(Equivalence, PureDataParallelFloat32Full) {
  check_layout(1, "float32", config::TrainMode::kFull, 1e-5);
}

// The PEFT baselines on the same engine: 1 rank = EP world = EP 2 x DP 2, loss and every
// adapter's gradient (those on experts summed over the expert's replicas only).
TEST(Equivalence, LoraExpertParallelFloat64) {
  check_layout(world_size(), "float64", config::TrainMode::kLora, 1e-12);
}
TEST(Equivalence, DoraExpertParallelFloat64) {
  check_layout(world_size(), "float64", config::TrainMode::kDora, 1e-12);
}
TEST(Equivalence, QloraExpertParallelFloat64) {
  check_layout(world_size(), "float64", config::TrainMode::kQlora, 1e-12);
}
TEST(Equivalence, PeftExpertTimesDataParallelFloat64) {
  if (world_size() % 2 != 0 || world_size() < 4) GTEST_SKIP() << "needs 4 ranks for EP 2 x DP 2";
  for (auto mode : {config::TrainMode::kLora, config::TrainMode::kDora, config::TrainMode::kQlora})
    check_layout(2, "float64", mode, 1e-12);
}

// #14 PERFT: adapters beside the MoE block. perft-e's adapter i lives with expert i and sees the
// rows the all-to-all brings; perft-r's router and the shared adapters are replicated.
// 1 rank = EP world (4 on 4 ranks) = EP 2 x DP 2, loss and every adapter's gradient.
void perft_tweak(config::RunConfig& c) {
  c.peft.perft_rank = 4;
  c.peft.perft_adapters = 3;
  c.peft.perft_topk = 2;
  if (c.train.mode == config::TrainMode::kPerftR) c.peft.perft_aux_coef = 0.05;
  if (c.train.mode == config::TrainMode::kPerftD) c.peft.perft_adapter = "parallel";
}
const config::TrainMode kPerftModes[] = {config::TrainMode::kPerftR, config::TrainMode::kPerftE,
                                         config::TrainMode::kPerftS, config::TrainMode::kPerftD};
TEST(Equivalence, PerftExpertParallelFloat64) {
  for (auto mode : kPerftModes) check_layout(world_size(), "float64", mode, 1e-12, perft_tweak);
}
TEST(Equivalence, PerftExpertTimesDataParallelFloat64) {
  if (world_size() % 2 != 0 || world_size() < 4) GTEST_SKIP() << "needs 4 ranks for EP 2 x DP 2";
  for (auto mode : kPerftModes) check_layout(2, "float64", mode, 1e-12, perft_tweak);
}
TEST(Equivalence, PerftRecomputeExpertParallelFloat64) {
  for (auto mode : {config::TrainMode::kPerftR, config::TrainMode::kPerftE})
    check_layout(world_size(), "float64", mode, 1e-12, [](config::RunConfig& c) {
      perft_tweak(c);
      c.train.recompute = "moe";
    });
}

// #13: recomputation reruns the MoE's all-to-all in backward; the layouts still agree exactly.
TEST(Equivalence, RecomputeEveryLevelExpertParallelFloat64) {
  for (const char* level : {"moe", "attention", "full"})
    for (auto mode : {config::TrainMode::kFull, config::TrainMode::kMofe, config::TrainMode::kLora})
      check_layout(world_size(), "float64", mode, 1e-12,
                   [&](config::RunConfig& c) { c.train.recompute = level; });
}
TEST(Equivalence, RecomputeExpertTimesDataParallelFloat64) {
  if (world_size() % 2 != 0 || world_size() < 4) GTEST_SKIP() << "needs 4 ranks for EP 2 x DP 2";
  check_layout(2, "float64", config::TrainMode::kFull, 1e-12,
               [](config::RunConfig& c) { c.train.recompute = "full"; });
}
// bf16-mixed: activations cross ranks in bf16 and experts see their rows in another order
// and grouping, so layouts agree to bf16's resolution, not bitwise. Tolerance 3e-2 of the
// largest element (bf16 keeps 8 significant bits: 2^-8 = 0.4% per rounding, a few roundings
// deep), on the loss, the logits and every gradient.
TEST(Equivalence, Bf16MixedExpertParallelWithinBf16Tolerance) {
  for (auto mode : {config::TrainMode::kFull, config::TrainMode::kMofe})
    check_layout(world_size(), "float32", mode, 3e-2,
                 [](config::RunConfig& c) { c.runtime.precision = "bf16-mixed"; });
}
