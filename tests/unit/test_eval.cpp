// mofe eval: the harness's context/continuation split, contexts with and without few-shot
// examples, the batched scorer against a plain one-sequence-at-a-time computation, metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mofe/core/error.h"
#include "mofe/dist/backend.h"
#include "mofe/eval/metrics.h"
#include "mofe/eval/scorer.h"
#include "mofe/io/seeded_model.h"
#include "support/tiny.h"

using namespace mofe;
using ::testing::ElementsAre;

namespace {

// A character-level encoder, except that ": " is one token (999): like SentencePiece, the
// tokens of a string are not the tokens of its pieces.
std::vector<int32_t> char_encode(const std::string& s) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ':' && i + 1 < s.size() && s[i + 1] == ' ') {
      out.push_back(999);
      ++i;
    } else {
      out.push_back(int32_t(static_cast<unsigned char>(s[i])));
    }
  }
  return out;
}

eval::EvalDoc mcq(const std::string& q, std::vector<std::string> options, int answer,
                  const std::string& origin) {
  eval::EvalDoc d;
  d.tmpl = data::McqTemplate::kGeneric;
  d.doc.question = q;
  d.doc.options = std::move(options);
  for (size_t i = 0; i < d.doc.options.size(); ++i)
    d.doc.choices.push_back(std::string(1, char('A' + i)));
  d.doc.answer = answer;
  d.origin = origin;
  d.group = "mcq";
  return d;
}

}  // namespace

TEST(EvalSplit, TrailingSpaceMovesToTheContinuation) {
  auto [ctx, cont] = eval::encode_pair(char_encode, "Answer is ", "B", 1);
  // context "Answer is" (BOS + 9 chars), continuation " B" = ' ', 'B'
  EXPECT_EQ(ctx.size(), 10u);
  EXPECT_EQ(ctx.front(), 1);
  EXPECT_EQ(ctx.back(), 's');
  EXPECT_THAT(cont, ElementsAre(' ', 'B'));
  // Several trailing whitespace characters move together.
  auto [c2, k2] = eval::encode_pair(char_encode, "x \n ", "y", -1);
  EXPECT_THAT(c2, ElementsAre('x'));
  EXPECT_THAT(k2, ElementsAre(' ', '\n', ' ', 'y'));
}

TEST(EvalSplit, ContinuationIsWhatFollowsTheContextsLengthInTheWholeEncoding) {
  // "Answer:" + " B" encodes whole as [..., 'r', 999(": "), 'B']: 8 tokens after BOS; the
  // context alone is [..., 'r', ':'] (7). The continuation is whole[1 + 7:] = ['B'] only: the
  // harness's rule, not the separately encoded " B".
  auto [ctx, cont] = eval::encode_pair(char_encode, "Answer:", " B", 1);
  EXPECT_EQ(ctx.size(), 8u);
  EXPECT_THAT(cont, ElementsAre('B'));
  auto [ctx2, cont2] = eval::encode_pair(char_encode, "Answer:", " B", -1);  // no BOS
  EXPECT_EQ(ctx2.size(), 7u);
  EXPECT_THAT(cont2, ElementsAre('B'));
}

TEST(EvalContext, ZeroShotFewShotAndTooFewExamples) {
  eval::Task t;
  t.name = "mmlu";
  eval::EvalDoc d;
  d.tmpl = data::McqTemplate::kMmlu;
  d.doc.subject = "college_medicine";
  d.doc.question = " What treats X? ";
  d.doc.options = {"a", "b", "c", "d"};
  d.doc.choices = {"A", "B", "C", "D"};
  d.doc.answer = 2;
  d.group = "college_medicine";
  d.origin = "test:1";
  const std::string head =
      "The following are multiple choice questions (with answers) about college medicine.\n\n";
  const std::string q = "What treats X?\nA. a\nB. b\nC. c\nD. d\nAnswer:";
  EXPECT_EQ(eval::build_context(t, d, 0), head + q);
  auto ex = d;
  ex.origin = "dev:1";
  ex.doc.question = "Q1";
  ex.doc.answer = 0;
  t.fewshot["college_medicine"] = {ex};
  EXPECT_EQ(eval::build_context(t, d, 1), head + "Q1\nA. a\nB. b\nC. c\nD. d\nAnswer: A\n\n" + q);
  EXPECT_THROW(eval::build_context(t, d, 2), UsageError);
}

TEST(EvalScorer, BatchedLogLikelihoodsEqualOneSequenceAtATime) {
  auto cfg = fixtures::tiny_config(4, "float64").model;
  cfg.vocab_size = 1000;  // the char encoder's ids
  auto groups = fixtures::world_groups(1, cfg.num_local_experts);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  model::Transformer m(cfg, groups, *backend);
  m->to(torch::kFloat64);
  io::load_into(io::SeededModel(cfg, 5, torch::kFloat64, 0.1), *m);

  eval::Task task;
  task.name = "mcq";
  task.docs = {
      mcq("Which is a fruit?", {"apple", "dog", "red"}, 0, "f:1"),
      mcq("2 + 2?", {"3", "4"}, 1, "f:2"),
      mcq("Longest question of the set, about colours?", {"blue", "cat", "pear", "six"}, 0, "f:3")};
  const auto reqs = eval::build_requests(task, {0, 1, 2}, char_encode, 1, 0, 2048);
  ASSERT_EQ(reqs.size(), 9u);
  for (int64_t budget : {1, 64, 100000}) {  // one row per batch, a few, all at once
    eval::ScoreOptions so;
    so.batch_tokens = budget;
    so.pad_id = 0;
    const auto got = eval::score_requests(*m, reqs, groups, torch::kCPU, so);
    for (size_t i = 0; i < reqs.size(); ++i) {
      // Independent: the unpadded sequence alone, full log-softmax, sum over the continuation.
      const auto& r = reqs[i];
      std::vector<int64_t> in(r.tokens.begin(), r.tokens.end() - 1);
      auto logits = m->forward(torch::tensor(in, torch::kLong).unsqueeze(0)).logits_BSV[0];
      auto logp = torch::log_softmax(logits, -1);
      double want = 0;
      for (size_t p = size_t(r.context_len); p < r.tokens.size(); ++p)
        want += logp[int64_t(p) - 1][r.tokens[p]].item<double>();
      EXPECT_NEAR(got[i], want, 1e-9) << "request " << i << " budget " << budget;
    }
    // The chosen answers follow from those numbers.
    for (size_t d = 0, k = 0; d < task.docs.size(); ++d) {
      std::vector<double> ll;
      for (size_t c = 0; c < task.docs[d].doc.choices.size(); ++c) ll.push_back(got[k++]);
      const auto s = eval::score_doc(task.docs[d], ll);
      EXPECT_EQ(s.predicted, int(std::max_element(ll.begin(), ll.end()) - ll.begin()));
    }
  }
}

TEST(EvalMetrics, AccNormStderrAndTies) {
  auto d = mcq("q", {"x", "y"}, 1, "o");
  d.doc.choices = {"a", "bbbb"};  // acc_norm divides by 1 and 4 characters
  auto s = eval::score_doc(d, {-2.0, -4.0});
  EXPECT_FALSE(s.acc);                                       // -2 > -4
  EXPECT_TRUE(s.acc_norm);                                   // -2/1 < -4/4
  EXPECT_EQ(eval::score_doc(d, {-1.0, -1.0}).predicted, 0);  // ties: the first
  std::vector<eval::DocScore> v(4);
  v[0].acc = v[1].acc = v[2].acc = true;  // 3 of 4
  auto a = eval::aggregate(v);
  EXPECT_DOUBLE_EQ(a.acc, 0.75);
  // sample variance (n - 1) = 0.75 / 3; stderr = sqrt(0.25) / sqrt(4)
  EXPECT_NEAR(a.acc_stderr, 0.25, 1e-12);
}

TEST(EvalTask, MmluCategoriesCoverAllSubjects) {
  EXPECT_EQ(eval::mmlu_category("college_medicine"), "other");
  EXPECT_EQ(eval::mmlu_category("elementary_mathematics"), "stem");
  EXPECT_EQ(eval::mmlu_category("philosophy"), "humanities");
  EXPECT_EQ(eval::mmlu_category("sociology"), "social sciences");
  auto t = eval::load_task("mmlu", std::string(MOFE_SOURCE_DIR) + "/data/tiny_heldout");
  EXPECT_EQ(t.docs.size(), 200u);
  EXPECT_EQ(t.fewshot.at("miscellaneous").size(), 5u);
  auto s = eval::load_task("sujet-finance",
                           std::string(MOFE_SOURCE_DIR) + "/data/tiny/sujet_finance.jsonl");
  EXPECT_EQ(s.docs[0].doc.choices, (std::vector<std::string>{"positive", "negative", "neutral"}));
  EXPECT_THROW(eval::load_task("hellaswag", "/"), UsageError);
}
