// Preprocessing under MPI: ranks split the records and write their own shards; the dataset
// holds exactly the samples (and the same train/val split) that one process produces.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "mofe/data/dataset.h"
#include "mofe/data/preprocess.h"

using namespace mofe;

namespace {

std::multiset<std::vector<int32_t>> samples(const std::string& dir, const std::string& split) {
  data::TokenDataset ds(dir, split, "");
  std::multiset<std::vector<int32_t>> out;
  for (int64_t i = 0; i < ds.size(); ++i) out.insert(ds.sample(i).tokens);
  return out;
}

}  // namespace

TEST(PreprocessMpi, SameSamplesAndSplitAsOneProcess) {
  auto world = dist::Communicator::world();
  const std::string src = MOFE_SOURCE_DIR;
  data::PreprocessConfig c;
  c.inputs = {src + "/data/tiny/medmcqa.jsonl", src + "/data/tiny/ori_pqal.json",
              src + "/data/tiny/miscellaneous_test.csv"};
  c.tokenizer = src + "/data/tokenizer.model";
  c.shard_samples = 37;  // several shards per rank
  const std::string base = ::testing::TempDir() + "mofe_mpi_pre_np" + std::to_string(world.size());
  c.out_dir = base + "/many";
  if (world.rank() == 0) std::filesystem::remove_all(base);
  world.barrier();
  auto sum = data::preprocess(c, world);
  EXPECT_EQ(sum.read, 300 + 200 + 150);
  EXPECT_EQ(sum.written, sum.read);

  auto self = dist::Communicator::dup(MPI_COMM_SELF, "self");
  c.out_dir = base + "/one-r" + std::to_string(world.rank());
  auto one = data::preprocess(c, self);
  EXPECT_EQ(one.train, sum.train);
  EXPECT_EQ(one.val, sum.val);
  world.barrier();
  for (const char* split : {"train", "val"})
    EXPECT_TRUE(samples(base + "/many", split) == samples(c.out_dir, split)) << split;
}
