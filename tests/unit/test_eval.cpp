// mofe eval: the harness's context/continuation split, contexts with and without few-shot
// examples, the batched scorer against a plain one-sequence-at-a-time computation, metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include "mofe/core/error.h"
#include "mofe/dist/backend.h"

#include <filesystem>
#include <fstream>
#include <numeric>

#include "mofe/eval/metrics.h"
#include "mofe/eval/run.h"
#include "mofe/eval/scorer.h"
#include "mofe/eval/task.h"
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

// The tiny MoE in float64 with seeded weights and the char encoder's vocabulary.
struct CharModel {
  config::ModelConfig cfg = [] {
    auto c = fixtures::tiny_config(4, "float64").model;
    c.vocab_size = 1000;  // the char encoder's ids
    return c;
  }();
  dist::ProcessGroups groups = fixtures::world_groups(1, cfg.num_local_experts);
  std::unique_ptr<dist::CommBackend> backend = dist::make_backend("mpi", torch::kCPU);
  model::Transformer model{cfg, groups, *backend};
  explicit CharModel(uint64_t seed) {
    model->to(torch::kFloat64);
    io::load_into(io::SeededModel(cfg, seed, torch::kFloat64, 0.1), *model);
  }
};

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
  CharModel cm(5);
  auto& m = cm.model;
  auto& groups = cm.groups;

  eval::Task task;
  task.name = "mcq";
  task.docs = {
      mcq("Which is a fruit?", {"apple", "dog", "red"}, 0, "f:1"),
      mcq("2 + 2?", {"3", "4"}, 1, "f:2"),
      mcq("Longest question of the set, about colours?", {"blue", "cat", "pear", "six"}, 0, "f:3")};
  const auto reqs = eval::build_requests(task, {0, 1, 2}, char_encode, 1, 0, 2048);
  ASSERT_EQ(reqs.size(), 9u);
  for (int64_t budget : {1, 64, 100000})  // one row per batch, a few, all at once
    for (bool share : {true, false}) {    // one sequence per question, or per request
      eval::ScoreOptions so;
      so.batch_tokens = budget;
      so.pad_id = 0;
      so.share_context = share;
      const auto scores = eval::score_requests(*m, reqs, groups, torch::kCPU, so);
      const auto& got = scores.loglik;
      for (size_t i = 0; i < reqs.size(); ++i) {
        // Independent: the unpadded sequence alone, full log-softmax, sum over the continuation.
        const auto& r = reqs[i];
        std::vector<int64_t> in(r.tokens.begin(), r.tokens.end() - 1);
        auto logits = m->forward(torch::tensor(in, torch::kLong).unsqueeze(0)).logits_BSV[0];
        auto logp = torch::log_softmax(logits, -1);
        double want = 0;
        for (size_t p = size_t(r.context_len); p < r.tokens.size(); ++p)
          want += logp[int64_t(p) - 1][r.tokens[p]].item<double>();
        EXPECT_NEAR(got[i], want, 1e-9)
            << "request " << i << " budget " << budget << " share " << share;
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
  // sample variance (n - 1) of 3 of 4 = 0.75 / 3; stderr = sqrt(0.25) / sqrt(4)
  EXPECT_NEAR(*eval::mean_stderr({1, 1, 1, 0}), 0.25, 1e-12);
  EXPECT_FALSE(eval::mean_stderr({1}).has_value());  // the harness's "N/A"
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

// --- #12: the harness's rules -----------------------------------------------------------------

namespace {
// A few MMLU-shaped documents over subjects (two categories and one subject mmlu does not know).
eval::Task mmlu_task(const std::vector<std::pair<std::string, int>>& subjects) {
  eval::Task t;
  t.name = "mmlu";
  int k = 0;
  for (const auto& [subject, n] : subjects)
    for (int i = 0; i < n; ++i, ++k) {
      auto d = mcq("q" + std::to_string(k), {"a", "b", "c", "d"}, k % 4,
                   subject + ":" + std::to_string(i + 1));
      d.tmpl = data::McqTemplate::kMmlu;
      d.doc.subject = d.group = subject;
      t.docs.push_back(d);
    }
  return t;
}
}  // namespace

TEST(EvalLimit, PerSubtaskInSourceOrderAndAsAFraction) {
  auto t = mmlu_task({{"anatomy", 5}, {"sociology", 3}, {"virology", 4}});
  EXPECT_THAT(eval::select_docs(t, 2), ElementsAre(0, 1, 5, 6, 8, 9));
  // ceil(0.5 x 5) = 3, ceil(0.5 x 3) = 2, ceil(0.5 x 4) = 2: the harness's fraction rule
  EXPECT_THAT(eval::select_docs(t, 0.5), ElementsAre(0, 1, 2, 5, 6, 8, 9));
  EXPECT_EQ(eval::select_docs(t, 0).size(), 12u);
  EXPECT_EQ(eval::subtask_of(t, t.docs[5]), "mmlu_sociology");
  eval::Task p;
  p.name = "pubmedqa";
  for (int i = 0; i < 4; ++i)
    p.docs.push_back(mcq("q", {"y", "n", "m"}, 0, "f:" + std::to_string(i)));
  for (auto& d : p.docs) d.group = "pubmedqa";
  EXPECT_THAT(eval::select_docs(p, 3), ElementsAre(0, 1, 2));
}

// The harness's pooled_sample_stderr, written out here from its definition:
//   pooled_var = sum((n_i - 1) * se_i^2 * n_i) / (sum(n_i) - k);  stderr = sqrt(pooled_var /
//   sum(n_i))
TEST(EvalMetrics, GroupStderrIsTheHarnessPooledStderrOverLeafSubtasks) {
  auto t = mmlu_task({{"anatomy", 7}, {"astronomy", 5}, {"sociology", 6}, {"made_up", 4}});
  std::vector<int64_t> docs(t.docs.size());
  std::iota(docs.begin(), docs.end(), 0);
  std::vector<eval::DocScore> scores(docs.size());
  for (size_t i = 0; i < scores.size(); ++i)
    scores[i].acc = (i * 7 % 5) < 2, scores[i].acc_norm = i % 3 == 0;
  const auto rows = eval::task_rows(t, docs, scores);
  std::map<std::string, eval::ResultRow> by;
  for (const auto& r : rows) by[r.name] = r;
  ASSERT_TRUE(by.count("mmlu") && by.count("mmlu_stem") && by.count("mmlu_social_sciences"));
  EXPECT_EQ(by["mmlu_social_sciences"].alias, " - social sciences");
  EXPECT_EQ(by["mmlu_anatomy"].alias, "  - anatomy");
  EXPECT_EQ(by["mmlu_made_up"].alias, " - made_up");  // not in a category: under mmlu itself
  EXPECT_THAT(by["mmlu"].children,
              ElementsAre("mmlu_social_sciences", "mmlu_stem", "mmlu_made_up"));
  // Leaves: plain sample stderr; groups: pooled over their leaves, size-weighted means.
  auto leaf = [&](const std::string& subject, size_t from, size_t n) {
    double mean = 0, ss = 0;
    for (size_t i = from; i < from + n; ++i) mean += scores[i].acc;
    mean /= double(n);
    for (size_t i = from; i < from + n; ++i) ss += (scores[i].acc - mean) * (scores[i].acc - mean);
    EXPECT_NEAR(by["mmlu_" + subject].acc.value, mean, 1e-15);
    const double se = std::sqrt(ss / double(n - 1)) / std::sqrt(double(n));
    EXPECT_NEAR(*by["mmlu_" + subject].acc.stderr_, se, 1e-15);
    return std::make_pair(se, double(n));
  };
  auto pooled = [](const std::vector<std::pair<double, double>>& v) {
    double num = 0, total = 0;
    for (const auto& [se, n] : v) num += (n - 1) * se * se * n, total += n;
    return std::sqrt(num / (total - double(v.size())) / total);
  };
  const auto an = leaf("anatomy", 0, 7), as = leaf("astronomy", 7, 5),
             so = leaf("sociology", 12, 6), mu = leaf("made_up", 18, 4);
  EXPECT_NEAR(*by["mmlu_stem"].acc.stderr_, pooled({an, as}), 1e-15);
  EXPECT_NEAR(*by["mmlu"].acc.stderr_, pooled({so, an, as, mu}), 1e-15);
  double all = 0;
  for (const auto& s : scores) all += s.acc;
  EXPECT_NEAR(by["mmlu"].acc.value, all / double(scores.size()), 1e-15);
  EXPECT_EQ(by["mmlu"].n, 22);
  // The pooled value is not the plain stderr over all documents (the old, wrong number).
  std::vector<double> flat;
  for (const auto& s : scores) flat.push_back(s.acc);
  EXPECT_GT(std::abs(*by["mmlu"].acc.stderr_ - *eval::mean_stderr(flat)), 1e-6);
}

TEST(EvalResults, HarnessV04KeysAndNames) {
  auto t = mmlu_task({{"anatomy", 3}, {"sociology", 2}});
  t.source = "mmlu/";
  std::vector<int64_t> docs = {0, 1, 2, 3, 4};
  std::vector<eval::DocScore> scores(5);
  scores[0].acc = true;
  const auto rows = eval::task_rows(t, docs, scores);
  const auto j = eval::results_json({{&t, rows, 5}});
  for (const char* k : {"results", "groups", "group_subtasks", "configs", "versions", "n-shot",
                        "higher_is_better", "n-samples"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const char* k :
       {"alias", "acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none"})
    EXPECT_TRUE(j["results"]["mmlu_anatomy"].contains(k)) << k;
  EXPECT_TRUE(j["groups"].contains("mmlu_social_sciences"));
  EXPECT_FALSE(j["groups"].contains("mmlu_anatomy"));
  EXPECT_EQ(j["n-samples"]["mmlu_anatomy"]["effective"], 3);
  EXPECT_EQ(j["n-shot"]["mmlu_sociology"], 5);
  EXPECT_EQ(j["configs"]["mmlu_anatomy"]["task_alias"], "anatomy");
  EXPECT_EQ(j["group_subtasks"]["mmlu_stem"].dump(), "[\"mmlu_anatomy\"]");
  EXPECT_DOUBLE_EQ(j["results"]["mmlu_anatomy"]["acc,none"].get<double>(), 1.0 / 3);
  EXPECT_EQ(eval::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
}

// The three layouts users have: the original release (data/{dev,val,test}), a flat directory
// and a Hugging Face JSON export hold the same questions and give the same documents and pools.
TEST(EvalTask, MmluLayoutsReadTheSame) {
  namespace fs = std::filesystem;
  const fs::path root =
      fs::temp_directory_path() / ("mofe-mmlu-layouts-" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::vector<std::string> subjects = {"anatomy", "virology"};
  auto row = [](const std::string& s, int i) {
    return "\"" + s + " question " + std::to_string(i) + "?\",w,x,y,z," +
           std::string(1, char('A' + i % 4)) + "\n";
  };
  fs::create_directories(root / "release/data/test");
  fs::create_directories(root / "release/data/dev");
  fs::create_directories(root / "release/data/val");
  fs::create_directories(root / "flat");
  fs::create_directories(root / "hf");
  std::ofstream hf_test(root / "hf/mmlu_test.jsonl"), hf_dev(root / "hf/mmlu_dev.jsonl");
  for (const auto& s : subjects) {
    std::ofstream t1(root / "release/data/test" / (s + "_test.csv")),
        d1(root / "release/data/dev" / (s + "_dev.csv")),
        v1(root / "release/data/val" / (s + "_val.csv")), t2(root / "flat" / (s + "_test.csv")),
        d2(root / "flat" / (s + "_dev.csv"));
    for (int i = 0; i < 4; ++i) {
      t1 << row(s, i), t2 << row(s, i), v1 << row(s, 9);
      hf_test << nlohmann::json({{"question", s + " question " + std::to_string(i) + "?"},
                                 {"subject", s},
                                 {"choices", {"w", "x", "y", "z"}},
                                 {"answer", i % 4}})
                     .dump()
              << "\n";
    }
    for (int i = 10; i < 12; ++i) {
      d1 << row(s, i), d2 << row(s, i);
      hf_dev << nlohmann::json({{"question", s + " question " + std::to_string(i) + "?"},
                                {"subject", s},
                                {"choices", {"w", "x", "y", "z"}},
                                {"answer", i % 4}})
                    .dump()
             << "\n";
    }
  }
  hf_test.close(), hf_dev.close();
  auto contexts = [&](const eval::Task& t) {
    std::vector<std::string> out;
    for (const auto& d : t.docs)
      out.push_back(eval::build_context(t, d, 2) + "|" + std::to_string(d.doc.answer));
    return out;
  };
  const auto release = eval::load_task("mmlu", (root / "release/data").string());
  const auto above = eval::load_task("mmlu", (root / "release").string());
  const auto flat = eval::load_task("mmlu", (root / "flat").string());
  const auto hf = eval::load_task("mmlu", (root / "hf").string());
  ASSERT_EQ(release.docs.size(), 8u);
  EXPECT_EQ(contexts(release), contexts(flat));
  EXPECT_EQ(contexts(release), contexts(hf));
  EXPECT_EQ(contexts(release), contexts(above));
  EXPECT_EQ(eval::subtask_of(hf, hf.docs[5]), "mmlu_virology");
  // A directory holding none of them is refused with a hint that names what works.
  fs::create_directories(root / "empty");
  try {
    eval::load_task("mmlu", (root / "empty").string());
    ADD_FAILURE() << "an empty directory was accepted";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("the original release (test/ and dev/ folders"));
  }
  EXPECT_NO_THROW(eval::check_fewshot(release, 2));
  EXPECT_THROW(eval::check_fewshot(release, 3), UsageError);
  fs::remove_all(root);
}

// PubMedQA's ori_pqal.json lists documents as the file does, not sorted by id as strings.
TEST(EvalTask, PubmedqaKeepsTheFilesOrder) {
  namespace fs = std::filesystem;
  const fs::path p =
      fs::temp_directory_path() / ("mofe-pqal-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(p);
    out << "{";
    const char* ids[] = {"9", "10", "100", "2"};
    for (int i = 0; i < 4; ++i)
      out << (i ? "," : "") << "\"" << ids[i] << "\": {\"QUESTION\": \"q" << i
          << "?\", \"CONTEXTS\": [\"c\"], \"final_decision\": \"yes\"}";
    out << "}";
  }
  const auto t = eval::load_task("pubmedqa", p.string());
  ASSERT_EQ(t.docs.size(), 4u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(t.docs[size_t(i)].doc.question, "q" + std::to_string(i) + "?");
  fs::remove(p);
}

// Shared-context scoring on multi-token continuations: the packed sequence (one context, every
// choice after it) gives each choice's log-likelihood of scoring it alone.
TEST(EvalScorer, SharedContextEqualsOneRequestAtATimeOnMultiTokenChoices) {
  CharModel cm(7);
  auto& m = cm.model;
  auto& groups = cm.groups;
  eval::Task task;
  task.name = "mcq";
  auto d1 = mcq("Pick the fruit", {"x", "y", "z"}, 0, "f:1");
  d1.doc.choices = {"apple pie", "dog", "a red car"};  // several tokens each, different lengths
  auto d2 = mcq("One more", {"x", "y"}, 1, "f:2");
  d2.doc.choices = {"no", "yes indeed"};
  task.docs = {d1, d2};
  const auto reqs = eval::build_requests(task, {0, 1}, char_encode, 1, 0, 2048);
  eval::ScoreOptions shared, alone;
  alone.share_context = false;
  const auto a = eval::score_requests(*m, reqs, groups, torch::kCPU, shared);
  const auto b = eval::score_requests(*m, reqs, groups, torch::kCPU, alone);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_NEAR(a.loglik[i], b.loglik[i], 1e-10 * std::abs(b.loglik[i])) << "request " << i;
    EXPECT_EQ(a.greedy[i], b.greedy[i]);
  }
  // The context once per question: forward tokens = contexts + each choice but its last token.
  int64_t want = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    if (i == 0 || reqs[i].doc != reqs[i - 1].doc) want += reqs[i].context_len;
    want += int64_t(reqs[i].tokens.size()) - reqs[i].context_len - 1;
  }
  EXPECT_EQ(a.forward_tokens, want);
  EXPECT_LT(a.forward_tokens, b.forward_tokens);
}
