// Fuzz target for the dataset readers (src/data/formats.cpp): the CSV reader and every
// JSON-lines format (and PubMedQA's keyed object, plain text). Any byte string must be read
// record by record or rejected with a UsageError/InputError, never crash or hang, and nothing
// may be lost: an MMLU CSV gives one example or one bad record per row parse_csv finds.
//   The first byte picks the format, the rest is the file.
//   libFuzzer:  tools/fuzz.sh [SECONDS]       anywhere: mofe_fuzz_records [ITERATIONS] [SEEDS...]
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "mofe/core/error.h"
#include "mofe/data/formats.h"

namespace {

using mofe::data::Format;

const Format kFormats[] = {Format::kMmlu,           Format::kMmlu,         Format::kMedmcqa,
                           Format::kPubmedqa,       Format::kSujetFinance, Format::kAlpaca,
                           Format::kPromptResponse, Format::kText,         Format::kText};
// The names the readers see: the first is MMLU's CSV, the last a plain text file.
const char* kNames[] = {"college_medicine_val.csv",
                        "mmlu.jsonl",
                        "medmcqa.jsonl",
                        "ori_pqal.json",
                        "sujet.jsonl",
                        "alpaca.jsonl",
                        "pr.jsonl",
                        "text.jsonl",
                        "text.txt"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t which = data[0] % (sizeof kFormats / sizeof kFormats[0]);
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  int64_t examples = 0, bad = 0;
  mofe::data::ReadCallbacks cb;
  cb.example = [&](mofe::data::Example&&) { ++examples; };
  cb.bad = [&](const mofe::data::BadRecord&) { ++bad; };
  cb.note = [](const std::string&) {};
  try {
    mofe::data::ReadOptions o;
    o.medmcqa_cop = which == 2 && (size % 2) ? "auto" : "0";
    mofe::data::read_text(text, kNames[which], kFormats[which], o, cb);
  } catch (const mofe::UsageError&) {
    return 0;  // e.g. MedMCQA with both cop 0 and 4: refused as a whole
  } catch (const mofe::IoError&) {
    return 0;
  }
  if (which == 0 && mofe::data::valid_utf8(text) &&
      examples + bad != int64_t(mofe::data::parse_csv(text).size()))
    std::abort();  // a CSV row went missing
  return 0;
}

std::vector<std::vector<uint8_t>> mofe_fuzz_seeds() {
  // Real rows of the bundled data, one seed per format.
  auto seed = [](uint8_t which, const std::string& text) {
    std::vector<uint8_t> v{which};
    v.insert(v.end(), text.begin(), text.end());
    return v;
  };
  return {seed(0,
               "\"What is, in short, a cell?\",unit,\"a \"\"box\"\"\",atom,gene,A\n"
               "Which is a \"fruit\" here?,apple,stone,sand,salt,A\r\nQ3,a,b,c,d,B\n"),
          seed(1, R"({"question":"2+2?","subject":"math","choices":["3","4","5","6"],"answer":1})"
                  "\n"),
          seed(2, R"({"question":"Q","opa":"w","opb":"x","opc":"y","opd":"z","cop":1})"
                  "\n"
                  R"({"question":"R","opa":"w","opb":"x","opc":"y","opd":"z","cop":0})"
                  "\n"),
          seed(3, R"({"1": {"QUESTION": "Does it?", "CONTEXTS": ["c"], "final_decision": "yes"}})"),
          seed(4, R"({"inputs":"Is it good?","answer":"positive","task_type":"sentiment_analysis"})"
                  "\n"),
          seed(5, R"({"instruction":"Say hi","input":"","output":"hi"})"
                  "\n"),
          seed(6, R"({"prompt":"p","response":" r"})"
                  "\n"),
          seed(7, R"({"text":"some text"})"
                  "\n"),
          seed(8, "a document\nover two lines\n\nanother one\n")};
}
