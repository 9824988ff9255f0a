// Checkpoints under MPI: a run of 2N steps and a run of N steps, checkpointed, restored into a
// fresh trainer and continued for N more give bitwise the same losses and parameters; a
// checkpoint loads on another expert-parallel layout; a damaged latest checkpoint falls back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include <sys/wait.h>
#include <unistd.h>

#include "mofe/ckpt/checkpoint.h"
#include "mofe/ckpt/tensor_file.h"
#include "mofe/core/error.h"
#include "mofe/dist/backend.h"
#include "mofe/train/run_lock.h"
#include "mofe/train/trainer.h"
#include "support/tiny.h"

using namespace mofe;
namespace fs = std::filesystem;

namespace {

config::RunConfig run_config(int ep, const std::string& dir, config::TrainMode mode) {
  auto world = dist::Communicator::world();
  auto cfg = fixtures::tiny_config(4, "float32");
  cfg.train.mode = mode;
  cfg.train.steps = 8;
  cfg.peft.lora_targets = {"q_proj", "v_proj", "w1", "w2"};  // PEFT modes: experts' adapters too
  cfg.parallel.ep_size = ep;
  cfg.parallel.resolve(world.size(), 4);
  cfg.checkpoint.dir = dir;
  return cfg;
}

// Checkpoints take the trainer's state view.
void save(const config::CheckpointConfig& cc, const config::RunConfig& cfg, int64_t step,
          train::Trainer& t, const dist::ProcessGroups& groups) {
  ckpt::save(cc, cfg, step, t.train_state(cc.full), groups);
}
int64_t restore(const config::CheckpointConfig& cc, train::Trainer& t,
                const dist::ProcessGroups& groups) {
  auto state = t.train_state();
  return restore(cc, state, groups);
}

// Steps [from, to) on this rank's slice of the global batch; returns the losses.
std::vector<double> run_steps(train::Trainer& t, const config::RunConfig& cfg, int64_t from,
                              int64_t to) {
  auto world = dist::Communicator::world();
  std::vector<double> losses;
  for (int64_t s = from; s < to; ++s) {
    const int64_t first = (s * world.size() + world.rank()) * cfg.train.micro_batch;
    losses.push_back(
        t.train_step({fixtures::synthetic_batch(cfg, first, cfg.train.micro_batch)}, s).loss);
  }
  return losses;
}

std::string fresh_dir(const std::string& name) {
  auto world = dist::Communicator::world();
  const std::string dir =
      ::testing::TempDir() + "mofe_ckpt_" + name + "_np" + std::to_string(world.size());
  if (world.rank() == 0) fs::remove_all(dir);
  world.barrier();
  return dir;
}

void check_bitwise_resume(config::TrainMode mode, const std::string& name) {
  auto world = dist::Communicator::world();
  const std::string dir = fresh_dir(name);
  auto cfg = run_config(world.size(), dir, mode);
  auto groups = fixtures::world_groups(cfg.parallel.ep_size, 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);

  train::Trainer straight(cfg, groups, *backend, torch::kCPU);
  auto all = run_steps(straight, cfg, 0, 8);

  train::Trainer first(cfg, groups, *backend, torch::kCPU);
  auto head = run_steps(first, cfg, 0, 4);
  save(cfg.checkpoint, cfg, 4, first, groups);

  train::Trainer second(cfg, groups, *backend, torch::kCPU);
  auto cc = cfg.checkpoint;
  cc.resume = "auto";
  ASSERT_EQ(restore(cc, second, groups), 4);
  auto tail = run_steps(second, cfg, 4, 8);
  head.insert(head.end(), tail.begin(), tail.end());
  EXPECT_EQ(head, all);  // bitwise
  auto a = straight.model()->named_parameters(), b = second.model()->named_parameters();
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
}

}  // namespace

TEST(Checkpoint, BitwiseResumeMofe) { check_bitwise_resume(config::TrainMode::kMofe, "mofe"); }
TEST(Checkpoint, BitwiseResumeFull) { check_bitwise_resume(config::TrainMode::kFull, "full"); }
// Adapters and their AdamW moments come back; the frozen base (fp32, or NF4 re-quantised from
// its source) is the same, so the continued curve is bitwise the uninterrupted one.
TEST(Checkpoint, BitwiseResumeLora) { check_bitwise_resume(config::TrainMode::kLora, "lora"); }
TEST(Checkpoint, BitwiseResumeDora) { check_bitwise_resume(config::TrainMode::kDora, "dora"); }
TEST(Checkpoint, BitwiseResumeQlora) { check_bitwise_resume(config::TrainMode::kQlora, "qlora"); }

TEST(Checkpoint, PeftCheckpointHoldsAdaptersAndNamesItsBase) {
  auto world = dist::Communicator::world();
  const std::string dir = fresh_dir("peft_contents");
  auto cfg = run_config(world.size(), dir, config::TrainMode::kQlora);
  auto groups = fixtures::world_groups(cfg.parallel.ep_size, 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer t(cfg, groups, *backend, torch::kCPU);
  run_steps(t, cfg, 0, 2);
  save(cfg.checkpoint, cfg, 2, t, groups);
  if (world.rank() == 0) {
    const std::string step = dir + "/step_00000002";
    std::set<std::string> stored;
    for (const auto& e : std::filesystem::recursive_directory_iterator(step))
      if (e.path().extension() == ".h5")
        for (const auto& [name, tensor] : ckpt::read_tensors(e.path().string()))
          stored.insert(name);
    // Every adapter tensor with both moments, and nothing of the frozen base.
    int64_t adapters = 0;
    for (const auto& s : stored) {
      const bool moment = s.rfind("m:", 0) == 0 || s.rfind("v:", 0) == 0;
      const std::string name = moment ? s.substr(2) : s;
      EXPECT_NE(name.find("lora_"), std::string::npos) << "a frozen tensor was written: " << s;
      adapters += moment ? 0 : 1;
    }
    // q, v per layer, w1, w2 per expert and layer: (2 + 2 * 4) * 2 layers, A and B each.
    EXPECT_EQ(adapters, (2 + 2 * 4) * 2 * 2);
    std::ifstream in(step + "/state.json");
    const auto st = nlohmann::json::parse(in);
    EXPECT_EQ(st["frozen_source"]["source"], "init");
    EXPECT_EQ(st["config"]["train"]["mode"], "qlora");
  }
}

TEST(Checkpoint, LoadsOnAnotherExpertParallelLayout) {
  auto world = dist::Communicator::world();
  if (world.size() < 2) GTEST_SKIP();
  const std::string dir = fresh_dir("relayout");
  auto cfg = run_config(world.size(), dir, config::TrainMode::kFull);
  auto groups = fixtures::world_groups(world.size(), 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer a(cfg, groups, *backend, torch::kCPU);
  run_steps(a, cfg, 0, 3);
  save(cfg.checkpoint, cfg, 3, a, groups);
  auto next_a = run_steps(a, cfg, 3, 5);

  // Same world, every rank now holds all experts (EP 1 x DP world).
  auto cfg1 = run_config(1, dir, config::TrainMode::kFull);
  auto groups1 = fixtures::world_groups(1, 4);
  train::Trainer b(cfg1, groups1, *backend, torch::kCPU);
  auto cc = cfg1.checkpoint;
  cc.resume = dir + "/step_00000003";
  ASSERT_EQ(restore(cc, b, groups1), 3);
  auto next_b = run_steps(b, cfg1, 3, 5);
  for (size_t i = 0; i < next_a.size(); ++i) EXPECT_NEAR(next_b[i], next_a[i], 1e-4 * next_a[i]);
}

TEST(Checkpoint, DamagedLatestFallsBackAndKeepDeletesOld) {
  auto world = dist::Communicator::world();
  const std::string dir = fresh_dir("damaged");
  auto cfg = run_config(world.size(), dir, config::TrainMode::kMofe);
  cfg.checkpoint.keep = 2;
  auto groups = fixtures::world_groups(world.size(), 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer t(cfg, groups, *backend, torch::kCPU);
  for (int64_t s = 1; s <= 3; ++s) {
    run_steps(t, cfg, s - 1, s);
    save(cfg.checkpoint, cfg, s, t, groups);
  }
  auto kept = ckpt::published(dir);
  ASSERT_EQ(kept.size(), 2u);  // step 1 deleted once step 3 was published
  EXPECT_THAT(kept.back(), ::testing::EndsWith("step_00000003"));
  if (world.rank() == 0) {
    // Flip one byte inside the stored data of a tensor of the newest checkpoint.
    const std::string f = kept.back() + "/dense.h5";
    haddr_t addr = 0;
    hsize_t bytes = 0;
    {
      hid_t file = H5Fopen(f.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      hid_t ds = H5Dopen2(file, "lm_head.weight", H5P_DEFAULT);
      const hsize_t origin = 0;
      unsigned mask = 0;
      ASSERT_GE(H5Dget_chunk_info_by_coord(ds, &origin, &mask, &addr, &bytes), 0);
      H5Dclose(ds);
      H5Fclose(file);
    }
    std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(addr + bytes / 2);
    char c = 0;
    io.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    io.seekp(addr + bytes / 2);
    io.write(&c, 1);
  }
  world.barrier();
  train::Trainer r(cfg, groups, *backend, torch::kCPU);
  auto cc = cfg.checkpoint;
  cc.resume = "auto";
  EXPECT_EQ(restore(cc, r, groups), 2);
  cc.resume = kept.back();  // asked for explicitly, the damaged one is an error
  EXPECT_THROW(restore(cc, r, groups), IoError);
}

TEST(RunLock, SecondLockOnTheSameRunFails) {
  auto world = dist::Communicator::world();
  const std::string dir = ::testing::TempDir() + "mofe_lock_r" + std::to_string(world.rank());
  fs::remove_all(dir);
  train::RunLock first(dir);
  // A usage error now (#11 item 3): reported once, before any work, exit 2.
  EXPECT_THAT([&] { train::RunLock second(dir); },
              ::testing::ThrowsMessage<UsageError>(::testing::HasSubstr("is locked by")));
}

// #11 item 3: the checkpoint directory is locked too; a lock of a process that is gone (or a
// zombie) is taken over; one of another host names the host and --break-lock.
TEST(RunLock, CheckpointDirectoryStaleZombieAndForeignLocks) {
  auto world = dist::Communicator::world();
  const std::string root = ::testing::TempDir() + "mofe_lock2_r" + std::to_string(world.rank());
  fs::remove_all(root);
  auto a = fixtures::tiny_config(4, "float32"), b = a;
  a.train.out_dir = root + "/runA", b.train.out_dir = root + "/runB";
  a.checkpoint.dir = b.checkpoint.dir = root + "/shared-checkpoints";
  fs::create_directories(a.checkpoint.dir + "/step_00000001.tmp");
  auto locks = train::lock_run(a);
  EXPECT_EQ(locks.size(), 2u);
  EXPECT_THAT([&] { train::lock_run(b); },
              ::testing::ThrowsMessage<UsageError>(::testing::HasSubstr(
                  "checkpoint directory '" + a.checkpoint.dir + "' is locked")));
  locks.clear();
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const std::string lock = root + "/stale/run.lock";
  fs::create_directories(root + "/stale");
  // A process that is gone.
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  std::ofstream(lock) << host << " " << child << "\n";
  { train::RunLock taken(root + "/stale"); }
  // A zombie: exited, not yet reaped.
  child = fork();
  if (child == 0) _exit(0);
  usleep(200000);
  ASSERT_FALSE(train::process_alive(child));
  std::ofstream(lock) << host << " " << child << "\n";
  { train::RunLock taken(root + "/stale"); }
  waitpid(child, nullptr, 0);
  // Another host's lock cannot be checked: refused, naming it and the flag.
  std::ofstream(lock) << "node042 4711\n";
  EXPECT_THAT([&] { train::RunLock l(root + "/stale"); },
              ::testing::ThrowsMessage<UsageError>(
                  ::testing::AllOf(::testing::HasSubstr("locked by node042 pid 4711"),
                                   ::testing::HasSubstr("--break-lock"))));
  { train::RunLock broken(root + "/stale", /*break_lock=*/true); }
  EXPECT_FALSE(fs::exists(lock));
}

// #11 item 2: a `latest` that cannot be read deletes nothing; resume falls back to the newest
// intact checkpoint, saying so.
TEST(Checkpoint, UnreadableLatestDeletesNothingAndFallsBack) {
  auto world = dist::Communicator::world();
  const std::string dir = fresh_dir("bad_latest");
  auto cfg = run_config(world.size(), dir, config::TrainMode::kMofe);
  cfg.checkpoint.keep = 5;
  auto groups = fixtures::world_groups(world.size(), 4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  train::Trainer t(cfg, groups, *backend, torch::kCPU);
  for (int64_t s = 1; s <= 3; ++s) {
    run_steps(t, cfg, s - 1, s);
    save(cfg.checkpoint, cfg, s, t, groups);
  }
  for (const std::string garbage : {"../..", "/etc", "zzz", "step_00000009", ""}) {
    if (world.rank() == 0) {
      std::ofstream(dir + "/latest") << garbage << "\n";
      ckpt::clean_unpublished(dir);
    }
    world.barrier();
    EXPECT_EQ(ckpt::published(dir).size(), 3u) << "latest = '" << garbage << "'";
    train::Trainer r(cfg, groups, *backend, torch::kCPU);
    auto cc = cfg.checkpoint;
    cc.resume = "auto";
    EXPECT_EQ(restore(cc, r, groups), 3) << "latest = '" << garbage << "'";
    world.barrier();
  }
}
