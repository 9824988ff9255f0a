// Preprocessing under MPI: ranks split the records and write their own shards; the dataset
// holds exactly the samples (and the same train/val split) that one process produces.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
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

// #11: nothing lost. Generated inputs with known numbers of good records and of bad ones of
// every kind; with --on-error skip, every record is accounted for, file by file and reason by
// reason, on one rank and on all of them.
TEST(PreprocessMpi, SkipModeAccountsForEveryRecord) {
  auto world = dist::Communicator::world();
  const std::string src = MOFE_SOURCE_DIR;
  const std::string base = ::testing::TempDir() + "mofe_mpi_lost_np" + std::to_string(world.size());
  if (world.rank() == 0) std::filesystem::remove_all(base);
  world.barrier();
  // Per file: how many of each kind, generated in a seeded shuffled order.
  struct Kind {
    const char* reason;  // "" = good
    bool dropped;        // a good record that cannot be a sample
    std::string line;
  };
  const std::string ok = R"({"prompt":"Name a colour.","response":" Red."})";
  const std::vector<Kind> kinds = {
      {"", false, ok},
      {"bad_json", false, R"({"prompt": "unclosed)"},
      {"missing_field", false, R"({"prompt":"no response here"})"},
      {"invalid_utf8", false, "{\"prompt\":\"\xff\xfe\",\"response\":\" r\"}"},
      {"empty_question", false, R"({"prompt":"   ","response":" r"})"},
      {"record_too_large", false,
       R"({"prompt":")" + std::string(3000, 'x') + R"(","response":" r"})"},
      {"too_long", true, R"({"prompt":"short","response":")" + std::string(400, 'y') + R"("})"},
      {"no_trained_token", true, R"({"prompt":"Say nothing.","response":""})"}};
  std::mt19937 rng(7);
  std::vector<std::string> files;
  std::vector<std::map<std::string, int64_t>> expect(3);
  for (int f = 0; f < 3; ++f) {
    std::vector<size_t> order;
    for (size_t k = 0; k < kinds.size(); ++k)
      for (int n = 0; n < (k == 0 ? 40 + 7 * f : 1 + int(k) + f); ++n) order.push_back(k);
    std::shuffle(order.begin(), order.end(), rng);
    const std::string path = base + "/in" + std::to_string(f) + ".jsonl";
    if (world.rank() == 0) {
      std::filesystem::create_directories(base);
      std::ofstream out(path, std::ios::binary);
      for (size_t k : order) out << kinds[k].line << "\n";
    }
    for (size_t k : order) ++expect[size_t(f)][kinds[k].reason];
    files.push_back(path);
  }
  world.barrier();
  data::PreprocessConfig c;
  c.inputs = files;
  c.format = "prompt-response";
  c.tokenizer = src + "/data/tokenizer.model";
  c.on_error = "skip";
  c.truncate = "drop";
  c.max_seq_len = 64;
  c.max_record_bytes = 2000;
  c.add_eos = false;
  c.val_fraction = 0;
  auto self = dist::Communicator::dup(MPI_COMM_SELF, "self");
  for (const auto* comm : {&self, &world}) {
    c.out_dir = base + (comm == &self ? "/one-r" + std::to_string(world.rank()) : "/all");
    auto sum = data::preprocess(c, *comm);
    int64_t total = 0;
    for (int f = 0; f < 3; ++f) {
      const auto& got = sum.files.at(files[size_t(f)]);
      const auto& want = expect[size_t(f)];
      int64_t records = 0;
      for (const auto& [reason, n] : want) records += n;
      total += records;
      EXPECT_EQ(got.read, records) << files[size_t(f)];
      EXPECT_EQ(got.written, want.at("")) << files[size_t(f)];
      for (const auto& k : kinds) {
        if (!*k.reason) continue;
        const auto& m = k.dropped ? got.dropped : got.skipped;
        EXPECT_EQ(m.count(k.reason) ? m.at(k.reason) : 0, want.at(k.reason))
            << files[size_t(f)] << ": " << k.reason << " on " << comm->size() << " rank(s)";
      }
      EXPECT_EQ(got.read, got.written + got.skipped_total() + got.dropped_total());
    }
    EXPECT_EQ(sum.read, total);
    EXPECT_EQ(data::TokenDataset(c.out_dir, "train", "").size(), sum.written);
  }
}
