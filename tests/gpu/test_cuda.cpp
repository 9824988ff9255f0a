// GPU tests (ctest -L gpu; tools/gpu_build.sh builds them against a CUDA LibTorch): the model
// computes the same on the GPU as on the CPU (float64), bf16-mixed tracks fp32 there, frozen
// bf16 experts train, recomputation is exact, evaluation's log-likelihoods and choices are the
// CPU's, and the NCCL backend moves rows and sums (float32 and bf16). Built in every test build;
// without a visible GPU each test skips, saying so. With one GPU and 2 ranks both ranks share it
// (MPI backend, staged through host memory).
#include <gtest/gtest.h>

#include "mofe/config/runtime_config.h"
#include "mofe/core/device.h"
#include "mofe/dist/backend.h"
#include "mofe/eval/scorer.h"
#include "mofe/io/seeded_model.h"
#include "mofe/train/trainer.h"
#include "support/tiny.h"

using namespace mofe;

namespace {

// Skips the calling test when LibTorch sees no GPU (a CPU build, or a node without one).
#define MOFE_REQUIRE_GPU()                                                                     \
  do {                                                                                         \
    if (!torch::cuda::is_available())                                                          \
      GTEST_SKIP() << "no GPU visible to LibTorch (CPU build or no device): GPU test skipped"; \
  } while (0)

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
  MOFE_REQUIRE_GPU();
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

namespace {

// 60 steps of a tiny job on the GPU in `precision`: the loss falls, everything stays on the
// device, frozen expert parameters do not move, and under bf16-mixed frozen experts are bf16
// stores.
void trains_and_freezes(const std::string& precision) {
  auto world = dist::Communicator::world();
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.train.micro_batch = 8;
  cfg.train.seq_len = 32;
  cfg.train.lr = 1e-2;
  cfg.train.steps = 60;
  cfg.parallel.ep_size = world.size();
  cfg.runtime.precision = precision;
  cfg.validate(world.size());
  auto groups = fixtures::world_groups(world.size(), 4);
  auto backend = dist::make_backend("mpi", gpu());
  train::Trainer t(cfg, groups, *backend, gpu());
  auto before = fixtures::snapshot(*t.model());
  double first = 0, last = 0;
  for (int64_t s = 0; s < cfg.train.steps; ++s) {
    auto batch = fixtures::synthetic_batch(cfg, (s * world.size() + world.rank()) * 8, 8);
    (s == 0 ? first : last) = t.train_step({batch}, s).loss;
  }
  EXPECT_LT(last, 0.7 * first) << precision;
  for (const auto& p : t.model()->named_parameters()) {
    EXPECT_TRUE(p.value().is_cuda()) << p.key();
    if (fixtures::expert_of(*t.model(), p.key()) >= 0) {
      EXPECT_TRUE(torch::equal(p.value().cpu(), before[p.key()].cpu())) << p.key();
    }
  }
  if (precision == "bf16-mixed")
    for (const auto& e : t.model()->params().entries())
      if (!e.trainable()) {
        EXPECT_EQ(e.storage(), "bf16") << e.name;
      }
}

}  // namespace

TEST(Cuda, TrainsAndFreezesOnGpu) {
  MOFE_REQUIRE_GPU();
  trains_and_freezes("fp32");
}

TEST(Cuda, TrainsWithFrozenBf16ExpertsUnderBf16Mixed) {
  MOFE_REQUIRE_GPU();
  trains_and_freezes("bf16-mixed");
}

TEST(Cuda, Bf16MixedTracksFloat32AndRecomputeIsExact) {
  MOFE_REQUIRE_GPU();
  auto world = dist::Communicator::world();
  auto groups = fixtures::world_groups(world.size(), 4);
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.train.mode = config::TrainMode::kFull;
  cfg.validate(world.size());
  const Grads ref = forward_backward(cfg, groups, gpu(), 2 * world.rank(), 2);
  auto mixed = cfg;
  mixed.runtime.precision = "bf16-mixed";
  mixed.validate(world.size());
  const Grads got = forward_backward(mixed, groups, gpu(), 2 * world.rank(), 2);
  EXPECT_NEAR(got.loss, ref.loss, 2e-2 * ref.loss);
  for (const auto& [name, g] : got.g) {
    EXPECT_EQ(g.scalar_type(), torch::kFloat) << name;  // float32 master gradients
    EXPECT_LT(fixtures::rel_err(g, ref.g.at(name)), 5e-2) << name;
  }
  auto f64 = fixtures::tiny_config(4, "float64");
  f64.train.mode = config::TrainMode::kFull;
  f64.validate(world.size());
  const Grads plain = forward_backward(f64, groups, gpu(), 2 * world.rank(), 2);
  for (const char* level : {"moe", "attention", "full"}) {
    f64.train.recompute = level;
    const Grads rc = forward_backward(f64, groups, gpu(), 2 * world.rank(), 2);
    EXPECT_NEAR(rc.loss, plain.loss, 1e-12 * plain.loss) << level;
    for (const auto& [name, g] : rc.g)
      EXPECT_LT(fixtures::rel_err(g, plain.g.at(name)), 1e-12) << level << " " << name;
  }
}

TEST(Cuda, EvalLogLikelihoodsAndChoicesAsOnCpu) {
  // mofe eval's scorer (shared contexts packed with their choices, the LM head on predicting
  // rows only) on the GPU against the CPU, float64, each rank on its own (MPI_COMM_SELF):
  // six questions of three choices of one to three tokens, contexts of 4 to 19 tokens, a
  // batch budget that splits them over several passes.
  MOFE_REQUIRE_GPU();
  const auto cfg = fixtures::tiny_config(4, "float64").model;
  const auto groups = fixtures::solo_groups(cfg.num_local_experts);
  std::vector<eval::Request> reqs;
  torch::manual_seed(7);
  for (int64_t d = 0; d < 6; ++d) {
    const int64_t C = 4 + 3 * d;
    const auto ctx = torch::randint(1, cfg.vocab_size, {C}, torch::kLong);
    for (int c = 0; c < 3; ++c) {
      eval::Request r;
      r.doc = d;
      r.choice = c;
      r.context_len = C;
      for (int64_t i = 0; i < C; ++i) r.tokens.push_back(int32_t(ctx[i].item<int64_t>()));
      for (int k = 0; k <= c; ++k)
        r.tokens.push_back(int32_t(1 + (d * 7 + c * 3 + k) % (cfg.vocab_size - 1)));
      reqs.push_back(r);
    }
  }
  auto scores_on = [&](torch::Device device) {
    auto backend = dist::make_backend("mpi", device);
    model::Transformer m{cfg, groups, *backend};
    m->to(torch::kFloat64);
    io::load_into(io::SeededModel(cfg, 5, torch::kFloat64, 0.1), *m);
    m->to(device);
    eval::ScoreOptions so;
    so.batch_tokens = 64;
    return eval::score_requests(*m, reqs, groups, device, so);
  };
  const auto cpu = scores_on(torch::kCPU);
  const auto cuda = scores_on(gpu());
  ASSERT_EQ(cuda.loglik.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_NEAR(cuda.loglik[i], cpu.loglik[i], 1e-9 * std::max(1.0, std::abs(cpu.loglik[i]))) << i;
    EXPECT_EQ(cuda.greedy[i], cpu.greedy[i]) << i;
  }
  for (size_t d = 0; d < 6; ++d) {  // the chosen answer of each question
    auto best = [&](const std::vector<double>& ll) {
      return std::max_element(ll.begin() + 3 * d, ll.begin() + 3 * d + 3) - ll.begin();
    };
    EXPECT_EQ(best(cuda.loglik), best(cpu.loglik)) << d;
  }
}

#ifdef MOFE_WITH_NCCL
TEST(Nccl, AllReduceAndRowExchange) {
  MOFE_REQUIRE_GPU();
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
  // bf16 (--grad-reduce-dtype bf16 and bf16-mixed's all-to-all): small integers are exact.
  auto b = torch::full({7}, float(world.rank() + 1), opts.dtype(torch::kBFloat16));
  nccl->all_reduce_sum(b, world);
  EXPECT_TRUE(torch::all(b.cpu().to(torch::kFloat) == expect).item<bool>());
  auto yb = nccl->all_to_all_rows(x.to(torch::kBFloat16), send, recv, world).cpu();
  EXPECT_TRUE(torch::equal(yb.to(torch::kFloat), y));
}
#endif
