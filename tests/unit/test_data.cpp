// The dataset pipeline: format readers (golden), preprocessing round trip with the bundled
// tokenizer, shard validation, and the loader's order, coverage and resume.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include "mofe/core/error.h"
#include "mofe/data/dataset.h"
#include "mofe/data/formats.h"
#include "mofe/data/loader.h"
#include "mofe/data/preprocess.h"
#include "mofe/data/shard.h"
#include "mofe/data/tokenizer.h"

using namespace mofe;
using namespace mofe::data;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const std::string kTokenizer = std::string(MOFE_SOURCE_DIR) + "/data/tokenizer.model";

// A directory per test, so tests running in parallel (ctest -j) never share files.
std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "mofe_data_test/" + info->test_suite_name() + "." + info->name() +
         "/";
}

std::string temp_file(const std::string& name, const std::string& text) {
  const std::string dir = test_dir();
  fs::create_directories(dir);
  std::ofstream(dir + name, std::ios::binary) << text;
  return dir + name;
}

struct Read {
  std::vector<Example> ok;
  std::vector<BadRecord> bad;
  std::vector<std::string> notes;
};

Read read(const std::string& path, Format f, ReadOptions o = {}) {
  Read r;
  read_file(
      path, f, o,
      {[&](Example&& e) { r.ok.push_back(e); }, [&](const BadRecord& b) { r.bad.push_back(b); },
       [&](const std::string& n) { r.notes.push_back(n); }, nullptr});
  return r;
}

std::string dataset_dir(const std::string& name) {
  const std::string dir = test_dir() + "ds_" + name;
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST(Formats, MmluCsvRendersTheHarnessTemplate) {
  auto path = temp_file("college_biology_test.csv",
                        "\"What is, in short, a cell?\",unit,\"a \"\"box\"\"\",atom,gene,A\n");
  auto r = read(path, Format::kMmlu);
  ASSERT_EQ(r.ok.size(), 1u);
  EXPECT_EQ(r.ok[0].prompt,
            "The following are multiple choice questions (with answers) about college biology.\n\n"
            "What is, in short, a cell?\nA. unit\nB. a \"box\"\nC. atom\nD. gene\nAnswer:");
  EXPECT_EQ(r.ok[0].response, " A");
  EXPECT_EQ(r.ok[0].origin, path + ":1");
}

TEST(Formats, MmluHfJson) {
  auto path = temp_file(
      "mmlu.jsonl",
      R"({"question":"  Q?  ","subject":"anatomy","choices":["a","b","c","d"],"answer":2})"
      "\n");
  auto r = read(path, Format::kMmlu);
  ASSERT_EQ(r.ok.size(), 1u);
  EXPECT_EQ(r.ok[0].prompt,
            "The following are multiple choice questions (with answers) about anatomy.\n\nQ?\n"
            "A. a\nB. b\nC. c\nD. d\nAnswer:");
  EXPECT_EQ(r.ok[0].response, " C");
}

TEST(Formats, MedmcqaDetectsCopBase) {
  const std::string rec0 = R"({"question":"Q","opa":"w","opb":"x","opc":"y","opd":"z","cop":0})";
  const std::string rec4 = R"({"question":"Q","opa":"w","opb":"x","opc":"y","opd":"z","cop":4})";
  auto zero = read(temp_file("m0.jsonl", rec0 + "\n"), Format::kMedmcqa);
  ASSERT_EQ(zero.ok.size(), 1u);
  EXPECT_EQ(zero.ok[0].prompt, "Question: Q\nChoices:\nA. w\nB. x\nC. y\nD. z\nAnswer:");
  EXPECT_EQ(zero.ok[0].response, " A");
  EXPECT_THAT(zero.notes.at(0), HasSubstr("0-based"));
  auto one = read(temp_file("m1.jsonl", rec4 + "\n"), Format::kMedmcqa);
  ASSERT_EQ(one.ok.size(), 1u);
  EXPECT_EQ(one.ok[0].response, " D");
  EXPECT_THAT(one.notes.at(0), HasSubstr("1-based"));
  EXPECT_THROW(read(temp_file("m01.jsonl", rec0 + "\n" + rec4 + "\n"), Format::kMedmcqa),
               UsageError);
}

TEST(Formats, PubmedqaKeyedObjectAndJsonLines) {
  const std::string rec =
      R"({"QUESTION":"Is it?","CONTEXTS":["One.","Two."],"final_decision":"maybe"})";
  auto keyed = read(temp_file("ori_pqal.json", "{\"123\": " + rec + "}"), Format::kPubmedqa);
  auto lines = read(temp_file("pqa.jsonl", rec + "\n"), Format::kPubmedqa);
  for (const auto* r : {&keyed, &lines}) {
    ASSERT_EQ(r->ok.size(), 1u);
    EXPECT_EQ(r->ok[0].prompt, "Abstract: One.\nTwo.\nQuestion: Is it?\nAnswer:");
    EXPECT_EQ(r->ok[0].response, " maybe");
  }
}

TEST(Formats, InstructionAndTextFormats) {
  auto sujet =
      read(temp_file("s.jsonl", R"({"inputs":"Headline.","answer":"positive","task_type":"x"})"
                                "\n"),
           Format::kSujetFinance);
  EXPECT_EQ(sujet.ok.at(0).prompt, "Headline.\nAnswer:");
  EXPECT_EQ(sujet.ok.at(0).response, " positive");
  // A task type with a label set lists it, as `mofe eval` renders the same record.
  auto labelled = read(temp_file("s2.jsonl", R"({"inputs":"Headline.","answer":"positive",)"
                                             R"("task_type":"sentiment_analysis"})"
                                             "\n"),
                       Format::kSujetFinance);
  EXPECT_EQ(labelled.ok.at(0).prompt, "Headline.\nOptions: positive, negative, neutral\nAnswer:");
  auto alpaca = read(temp_file("a.jsonl", R"({"instruction":"Do","input":"this","output":"done"})"
                                          "\n"),
                     Format::kAlpaca);
  EXPECT_EQ(alpaca.ok.at(0).prompt, "### Instruction:\nDo\n\n### Input:\nthis\n\n### Response:\n");
  EXPECT_EQ(alpaca.ok.at(0).response, "done");
  auto pr = read(temp_file("p.jsonl", R"({"prompt":"P","response":"R"})"
                                      "\n"),
                 Format::kPromptResponse);
  EXPECT_EQ(pr.ok.at(0).prompt, "P");
  auto text = read(temp_file("t.txt", "first doc\nline two\n\n\nsecond\n"), Format::kText);
  ASSERT_EQ(text.ok.size(), 2u);
  EXPECT_EQ(text.ok[0].response, "first doc\nline two");
  EXPECT_EQ(text.ok[0].prompt, "");
  EXPECT_EQ(text.ok[1].origin, test_dir() + "t.txt:5");
}

TEST(Formats, BadRecordsAreReportedWithLineAndReason) {
  std::string lines;
  lines += R"({"question":"Q","opa":"w","opb":"x","opc":"y","opd":"z","cop":1})"
           "\n";           // ok (line 1)
  lines += "{not json\n";  // 2
  lines += R"({"question":"Q","opa":"w","opb":"x","opc":"y","cop":1})"
           "\n";  // 3: no opd
  lines += R"({"question":"Q","opa":"w","opb":"x","opc":"y","opd":"z","cop":7})"
           "\n";  // 4
  lines +=
      "{\"question\":\"\xff\xfe\",\"opa\":\"w\",\"opb\":\"x\",\"opc\":\"y\",\"opd\":\"z\",\"cop\":"
      "1}\n";  // 5
  lines += R"({"question":"   ","opa":"w","opb":"x","opc":"y","opd":"z","cop":1})"
           "\n";  // 6
  auto path = temp_file("bad.jsonl", lines);
  ReadOptions o;
  o.medmcqa_cop = "0";
  auto r = read(path, Format::kMedmcqa, o);
  EXPECT_EQ(r.ok.size(), 1u);
  ASSERT_EQ(r.bad.size(), 5u);
  EXPECT_EQ(r.bad[0].origin, path + ":2");
  EXPECT_EQ(r.bad[0].reason, "bad_json");
  EXPECT_EQ(r.bad[1].reason, "missing_field");
  EXPECT_THAT(r.bad[1].message, HasSubstr("opd"));
  EXPECT_EQ(r.bad[2].reason, "answer_out_of_range");
  EXPECT_EQ(r.bad[3].reason, "invalid_utf8");
  EXPECT_EQ(r.bad[4].reason, "empty_question");
  EXPECT_EQ(r.bad[4].origin, path + ":6");
}

TEST(Formats, Utf8AndCsvHelpers) {
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xc3"));
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\xe2\x82"));
  auto rows = parse_csv("a,\"b,c\",\"d\ne\"\r\nx,y\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a", "b,c", "d\ne"}));
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(rows[1].line, 3);
}

// #11 item 8: CSV as Python's csv module (and so pandas and the datasets library) reads it.
// Expected rows computed with Python 3.11: csv.reader(io.StringIO(raw.decode("utf-8-sig"),
// newline="")), blank rows left out as pandas leaves them out.
TEST(Formats, CsvFollowsPythonsCsvModule) {
  using Rows = std::vector<std::vector<std::string>>;
  auto fields = [](const std::string& text) {
    Rows out;
    for (const auto& r : parse_csv(text)) out.push_back(r.fields);
    return out;
  };
  // A quote at the end of an unquoted field (MMLU's val/college_medicine_val.csv) is kept.
  EXPECT_EQ(fields("Which one ends with a quote\"?,A,B,C,D,A\nnext,w,x,y,z,B\n"),
            (Rows{{"Which one ends with a quote\"?", "A", "B", "C", "D", "A"},
                  {"next", "w", "x", "y", "z", "B"}}));
  // Quotes inside an unquoted field are characters; a quoted field loses its quotes.
  EXPECT_EQ(fields("Which is a \"fruit\" here?,apple,\"stone\",x \"y\" z,D,A\n"),
            (Rows{{"Which is a \"fruit\" here?", "apple", "stone", "x \"y\" z", "D", "A"}}));
  // A byte-order mark is not part of the first question.
  EXPECT_EQ(fields("\xEF\xBB\xBFWhat?,1,2,3,4,C\n"), (Rows{{"What?", "1", "2", "3", "4", "C"}}));
  // After a closing quote the rest of the field is kept; "" is a quote.
  EXPECT_EQ(fields("\"ab\"cd,e\n\"x\"\"y\",z\n"), (Rows{{"abcd", "e"}, {"x\"y", "z"}}));
  // Newlines inside quotes; CRLF; a blank line is no record.
  auto multi = parse_csv("\"line one\nline two\",b\r\n\r\nlast,row\n");
  ASSERT_EQ(multi.size(), 2u);
  EXPECT_EQ(multi[0].fields, (std::vector<std::string>{"line one\nline two", "b"}));
  EXPECT_EQ(multi[1].fields, (std::vector<std::string>{"last", "row"}));
  EXPECT_EQ(multi[1].line, 4);  // the record starts on the file's fourth line
  // An unclosed quote runs to the end of the file (strict=False).
  EXPECT_EQ(fields("a,\"never closed\nstill,in\n"), (Rows{{"a", "never closed\nstill,in\n"}}));
  EXPECT_EQ(fields(",,\n\"\",x\n"), (Rows{{"", "", ""}, {"", "x"}}));
  EXPECT_EQ(fields("a,b\rc,d\r"), (Rows{{"a", "b"}, {"c", "d"}}));
}

TEST(Formats, MmluCsvReadsEveryQuestionOfAFileWithStrayQuotes) {
  // The shape of MMLU's val/college_medicine_val.csv: one question ends in a quote inside an
  // unquoted field; the old reader swallowed the rest of the file into one record.
  std::string text = "\xEF\xBB\xBF";
  for (int i = 0; i < 20; ++i) {
    const std::string q = i == 3 ? "What does \"in vivo\" mean in the word \"vivo\""
                                 : "Question " + std::to_string(i);
    text += q + ",one,two,three,four," + std::string(1, char('A' + i % 4)) + "\n";
  }
  auto r = read(temp_file("college_medicine_val.csv", text), Format::kMmlu);
  EXPECT_TRUE(r.bad.empty());
  ASSERT_EQ(r.ok.size(), 20u);
  EXPECT_THAT(r.ok[3].prompt, HasSubstr("What does \"in vivo\" mean in the word \"vivo\""));
  EXPECT_THAT(r.ok[0].prompt, HasSubstr("\nQuestion 0\nA. one"));
  EXPECT_EQ(r.ok[0].prompt.find("\xEF\xBB\xBF"), std::string::npos);
}

TEST(Preprocess, RoundTripTokensMasksAndCounts) {
  Tokenizer tok(kTokenizer);
  PreprocessConfig c;
  c.inputs = {
      temp_file("rt.jsonl", R"({"prompt":"What kind of thing is a cat?","response":" An animal."})"
                            "\n"
                            R"({"prompt":"Name a color.","response":" Red."})"
                            "\n"),
      temp_file("rt.txt", "A cat is an animal.\n")};
  c.tokenizer = kTokenizer;
  c.out_dir = dataset_dir("roundtrip");
  c.val_fraction = 0;
  auto world = dist::Communicator::dup(MPI_COMM_SELF, "self");
  auto sum = preprocess(c, world);
  EXPECT_EQ(sum.read, 3);
  EXPECT_EQ(sum.written, 3);
  TokenDataset ds(c.out_dir, "train", tok.checksum());
  ASSERT_EQ(ds.size(), 3);
  // Sample 0: BOS + encode(prompt + response) + EOS, mask from the prompt's token count on.
  auto whole = tok.encode("What kind of thing is a cat? An animal.");
  const size_t prompt_len = tok.encode("What kind of thing is a cat?").size();
  auto s = ds.sample(0);
  ASSERT_EQ(s.tokens.size(), whole.size() + 2);
  EXPECT_EQ(s.tokens.front(), tok.bos_id());
  EXPECT_EQ(s.tokens.back(), tok.eos_id());
  EXPECT_TRUE(std::equal(whole.begin(), whole.end(), s.tokens.begin() + 1));
  for (size_t i = 0; i < s.tokens.size(); ++i) EXPECT_EQ(s.loss_mask[i], i >= 1 + prompt_len) << i;
  // Text: every token but BOS is trained on.
  auto t = ds.sample(2);
  EXPECT_EQ(t.loss_mask[0], 0);
  for (size_t i = 1; i < t.tokens.size(); ++i) EXPECT_EQ(t.loss_mask[i], 1);
  EXPECT_EQ(tok.decode(std::vector<int32_t>(t.tokens.begin() + 1, t.tokens.end() - 1)),
            "A cat is an animal.");
}

TEST(Preprocess, StopsOrSkipsBadRecordsAndTruncates) {
  PreprocessConfig c;
  c.inputs = {temp_file("mix.jsonl",
                        R"({"prompt":"a long prompt with many words in it","response":" ok"})"
                        "\n"
                        "oops\n"
                        R"({"prompt":"p","response":" r"})"
                        "\n")};
  c.tokenizer = kTokenizer;
  c.out_dir = dataset_dir("bad");
  auto world = dist::Communicator::dup(MPI_COMM_SELF, "self");
  try {
    preprocess(c, world);
    FAIL() << "expected an error";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("mix.jsonl:2: bad_json"));
  }
  EXPECT_FALSE(fs::exists(c.out_dir + "/manifest.json"));
  c.on_error = "skip";
  c.max_seq_len = 8;
  c.val_fraction = 0;
  auto sum = preprocess(c, world);
  EXPECT_EQ(sum.read, 3);
  EXPECT_EQ(sum.skipped.at("bad_json"), 1);
  EXPECT_EQ(sum.truncated, 1);
  EXPECT_EQ(sum.written, 2);
  TokenDataset ds(c.out_dir, "train", "");
  EXPECT_EQ(ds.sample(0).tokens.size(), 8u);
  c.truncate = "drop";
  sum = preprocess(c, world);
  EXPECT_EQ(sum.dropped.at("too_long"), 1);  // a good record that cannot be a sample: dropped
  EXPECT_EQ(sum.written, 1);
}

// #11 item 9: a sample with no trained token (an empty response with --no-eos) is dropped with
// its reason, and a dataset of nothing but such samples is refused; every record is accounted
// for per file.
TEST(Preprocess, SamplesWithoutATrainedTokenAreDroppedAndCounted) {
  PreprocessConfig c;
  c.inputs = {temp_file("empty.jsonl", R"({"prompt":"Say nothing.","response":""})"
                                       "\n"
                                       R"({"prompt":"Say yes.","response":" yes"})"
                                       "\n")};
  c.tokenizer = kTokenizer;
  c.out_dir = dataset_dir("no_trained");
  c.add_eos = false;
  c.val_fraction = 0;
  auto world = dist::Communicator::dup(MPI_COMM_SELF, "self");
  c.validate();
  auto sum = preprocess(c, world);
  EXPECT_EQ(sum.read, 2);
  EXPECT_EQ(sum.written, 1);
  EXPECT_EQ(sum.dropped.at("no_trained_token"), 1);
  const auto& f = sum.files.at(c.inputs[0]);
  EXPECT_EQ(f.read, f.written + f.skipped_total() + f.dropped_total());
  EXPECT_THAT(sum.line(), HasSubstr("dropped 1 (no_trained_token 1)"));
  c.inputs = {temp_file("all_empty.jsonl", R"({"prompt":"Say nothing.","response":""})"
                                           "\n")};
  c.out_dir = dataset_dir("none_trained");
  c.validate();
  EXPECT_THAT([&] { preprocess(c, world); },
              testing::ThrowsMessage<InputError>(HasSubstr("has a trained token")));
  EXPECT_FALSE(fs::exists(c.out_dir));  // nothing published
}

// #11 item 14: a record far beyond any sequence budget is refused before tokenising it.
TEST(Preprocess, HugeRecordsAreBadRecordsNotAnHourOfTokenising) {
  const std::string huge(5 << 20, 'x');
  PreprocessConfig c;
  c.inputs = {temp_file("huge.jsonl", "{\"prompt\":\"" + huge +
                                          "\",\"response\":\" r\"}\n"
                                          R"({"prompt":"p","response":" r"})"
                                          "\n")};
  c.tokenizer = kTokenizer;
  c.out_dir = dataset_dir("huge");
  c.val_fraction = 0;
  c.validate();
  auto world = dist::Communicator::dup(MPI_COMM_SELF, "self");
  EXPECT_THAT([&] { preprocess(c, world); },
              testing::ThrowsMessage<InputError>(HasSubstr("huge.jsonl:1: record_too_large")));
  c.on_error = "skip";
  const auto t0 = std::chrono::steady_clock::now();
  auto sum = preprocess(c, world);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
  EXPECT_EQ(sum.skipped.at("record_too_large"), 1);
  EXPECT_EQ(sum.written, 1);
}

// #11 item 21 and 19: formats by content, whatever the file is called; an empty file says so.
TEST(Formats, PubmedqaIsDetectedByContentAndEmptyFilesSaySo) {
  const std::string keyed = R"({
  "12345": {"QUESTION": "Does it?", "CONTEXTS": ["c"], "final_decision": "yes"},
  "99": {"QUESTION": "And this?", "CONTEXTS": ["d"], "final_decision": "no"}
})";
  EXPECT_EQ(detect_format(temp_file("ori_pqal_test200.json", keyed)), Format::kPubmedqa);
  EXPECT_EQ(detect_format(temp_file("my_copy.json", keyed)), Format::kPubmedqa);
  auto r = read(temp_file("pq.json", keyed), Format::kPubmedqa);
  EXPECT_EQ(r.ok.size(), 2u);
  EXPECT_THAT([&] { detect_format(temp_file("empty.jsonl", "\n  \n")); },
              testing::ThrowsMessage<UsageError>(HasSubstr("empty.jsonl' is empty")));
  EXPECT_THAT([&] { Tokenizer t(test_dir()); },
              testing::ThrowsMessage<InputError>(HasSubstr("is not a file")));
}

TEST(Shards, CorruptTruncatedOrForeignShardsAreRejected) {
  const std::string dir = dataset_dir("shards");
  fs::create_directories(dir);
  ShardWriter w(dir + "/s.h5", ShardMeta{"crc32:1:1", 10, "train", "[]"});
  w.add(Sample{{1, 2, 3}, {0, 1, 1}});
  w.add(Sample{{4, 5}, {1, 1}});
  w.close();
  ShardReader ok(dir + "/s.h5", "crc32:1:1");
  EXPECT_EQ(ok.samples(), 2);
  EXPECT_EQ(ok.sample(1).tokens, (std::vector<int32_t>{4, 5}));
  EXPECT_THAT([&] { ShardReader r(dir + "/s.h5", "crc32:2:2"); },
              ::testing::ThrowsMessage<IoError>(HasSubstr("made with tokenizer")));
  // Truncated copy.
  const auto size = fs::file_size(dir + "/s.h5");
  fs::copy_file(dir + "/s.h5", dir + "/cut.h5");
  fs::resize_file(dir + "/cut.h5", size / 2);
  EXPECT_THAT([&] { ShardReader r(dir + "/cut.h5", ""); },
              ::testing::ThrowsMessage<IoError>(HasSubstr("cut.h5")));
  // An id outside the vocabulary.
  ShardWriter big(dir + "/oov.h5", ShardMeta{"crc32:1:1", 4, "train", "[]"});
  big.add(Sample{{1, 7}, {0, 1}});
  big.close();
  EXPECT_THAT([&] { ShardReader r(dir + "/oov.h5", ""); },
              ::testing::ThrowsMessage<IoError>(
                  HasSubstr("token id 7 at position 1 outside the vocabulary")));
}

namespace {
// A dataset of n samples whose first token is the sample's id (+3 to stay clear of specials).
std::string numbered_dataset(int64_t n) {
  const std::string dir = dataset_dir("numbered" + std::to_string(n));
  fs::create_directories(dir);
  ShardWriter a(dir + "/train-a.h5", ShardMeta{"crc32:0:0", 1000, "train", "[]"});
  ShardWriter b(dir + "/train-b.h5", ShardMeta{"crc32:0:0", 1000, "train", "[]"});
  for (int64_t i = 0; i < n; ++i)
    (i < n / 3 ? a : b).add(Sample{{int32_t(i + 3), 1, 2}, {0, 1, 1}});
  a.close();
  b.close();
  Manifest m;
  m.tokenizer_checksum = "crc32:0:0";
  m.vocab_size = 1000;
  m.shards = {{"train", "train-a.h5", n / 3, 3 * (n / 3)},
              {"train", "train-b.h5", n - n / 3, 3 * (n - n / 3)}};
  m.write(dir);
  return dir;
}
int64_t id_of(const Batch& b, int64_t row) { return b.input_ids_BS[row][0].item<int64_t>() - 3; }
}  // namespace

TEST(Loader, EverySampleOncePerEpochOnAnyNumberOfRanks) {
  const int64_t n = 48;
  TokenDataset ds(numbered_dataset(n), "train", "");
  for (int world : {1, 2, 4}) {
    std::multiset<int64_t> seen;
    const int64_t per_step = 2 * 2 * world;  // micro_batch 2 x accum 2 x world
    for (int r = 0; r < world; ++r) {
      Loader loader(ds, LoaderOptions{2, 4, 2, r, world, 7, 0, 2});
      for (int64_t s = 0; s < n / per_step; ++s)
        for (const auto& b : loader.next_step())
          for (int64_t row = 0; row < 2; ++row) seen.insert(id_of(b, row));
    }
    ASSERT_EQ(int64_t(seen.size()), n) << world;
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(seen.count(i), 1u) << "sample " << i << ", world " << world;
  }
}

TEST(Loader, SameSeedSameOrderAndResumeContinuesExactly) {
  TokenDataset ds(numbered_dataset(30), "train", "");
  LoaderOptions o{3, 4, 1, 0, 1, 11, 0, 3};
  Loader a(ds, o), b(ds, o);
  std::vector<int64_t> first, second, resumed;
  for (int s = 0; s < 25; ++s) {  // runs past the first epoch
    for (const auto& x : a.next_step()) first.push_back(id_of(x, 0));
    for (const auto& x : b.next_step()) second.push_back(id_of(x, 0));
  }
  EXPECT_EQ(first, second);
  Loader c(ds, o, /*start_step=*/10);
  for (int s = 10; s < 25; ++s)
    for (const auto& x : c.next_step()) resumed.push_back(id_of(x, 0));
  EXPECT_EQ(resumed, std::vector<int64_t>(first.begin() + 10, first.end()));
  o.seed = 12;
  Loader d(ds, o);
  std::vector<int64_t> other;
  for (int s = 0; s < 10; ++s) other.push_back(id_of(d.next_step()[0], 0));
  EXPECT_NE(other, std::vector<int64_t>(first.begin(), first.begin() + 10));
}

// #11 item 4: the resume position is a sample count, so a run resumed with another global batch
// (here micro-batch 3 -> 2) continues with exactly the next sample of the global order.
TEST(Loader, ResumeWithAnotherGlobalBatchContinuesAtTheNextSample) {
  TokenDataset ds(numbered_dataset(40), "train", "");
  LoaderOptions o{3, 4, 1, 0, 1, 11, 0, 0};
  Loader a(ds, o);
  std::vector<int64_t> order;  // the global order of samples, read 3 at a time
  for (int s = 0; s < 10; ++s)
    for (const auto& x : a.next_step())
      for (int64_t r = 0; r < 3; ++r) order.push_back(id_of(x, r));
  LoaderOptions half = o;
  half.micro_batch = 2;
  half.start_sample = 4 * 3;  // after 4 steps of 3 samples
  Loader b(ds, half, /*start_step=*/4);
  std::vector<int64_t> resumed;
  for (int s = 4; s < 9; ++s)
    for (const auto& x : b.next_step())
      for (int64_t r = 0; r < 2; ++r) resumed.push_back(id_of(x, r));
  EXPECT_EQ(resumed, std::vector<int64_t>(order.begin() + 12, order.begin() + 22));
}

TEST(Loader, TargetsAreShiftedAndMasked) {
  TokenDataset ds(numbered_dataset(6), "train", "");
  Loader l(ds, LoaderOptions{1, 5, 1, 0, 1, 1, 0, 0});
  auto b = l.next_step()[0];
  // sample [id+3, 1, 2] mask [0, 1, 1], padded to 6 tokens: inputs [id+3, 1, 2, 0, 0],
  // targets [1, 2, -100, -100, -100].
  EXPECT_EQ(b.input_ids_BS[0][1].item<int64_t>(), 1);
  EXPECT_EQ(b.targets_BS[0][0].item<int64_t>(), 1);
  EXPECT_EQ(b.targets_BS[0][1].item<int64_t>(), 2);
  EXPECT_EQ(b.targets_BS[0][2].item<int64_t>(), -100);
  EXPECT_EQ(b.loss_tokens, 2);
}

TEST(Loader, PackingKeepsTheSameSamplesInFewerRows) {
  TokenDataset ds(numbered_dataset(12), "train", "");
  LoaderOptions padded{4, 6, 1, 0, 1, 3, 0, 0, false}, packed = padded;
  packed.pack = true;
  Loader a(ds, padded), b(ds, packed);
  auto pa = a.next_step()[0], pb = b.next_step()[0];
  // Four 3-token samples: 4 rows padded; packed, two fit in each 7-token row ([x 1 2 y 1 2 _]).
  EXPECT_EQ(pa.input_ids_BS.size(0), 4);
  ASSERT_EQ(pb.input_ids_BS.size(0), 2);
  EXPECT_EQ(pa.loss_tokens, pb.loss_tokens);
  for (int64_t k = 0; k < 4; ++k)  // sample k sits in row k / 2 at offset 3 * (k % 2)
    EXPECT_EQ(pb.input_ids_BS[k / 2][3 * (k % 2)].item<int64_t>(),
              pa.input_ids_BS[k][0].item<int64_t>());
  // The last token of a sample is not trained to predict the next sample's first token.
  EXPECT_EQ(pb.targets_BS[0][2].item<int64_t>(), -100);
  EXPECT_EQ(pb.targets_BS[0][3].item<int64_t>(), 1);
}
