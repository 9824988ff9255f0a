// Readers of the published dataset formats, each turning records into training Examples
// (prompt + response). Multiple-choice formats render their prompt with the templates shared
// with evaluation (templates.h). Bad records are reported with "file:line" and a reason key;
// the caller decides to stop or to count and skip.
//   mmlu            original CSV (question,A,B,C,D,answer letter; subject from
//   "<subject>_<split>.csv")
//                   or HF JSON lines (question, subject, choices[4], answer 0-3)
//   medmcqa         JSON lines: question, opa..opd, cop (0-based HF copy or 1-based original)
//   pubmedqa        ori_pqal.json (object keyed by PubMed id) or JSON lines: QUESTION,
//                   CONTEXTS[], final_decision yes|no|maybe
//   sujet-finance   JSON lines: inputs, answer (plus system_prompt, user_prompt, task_type,
//   dataset) alpaca          JSON lines: instruction, input, output prompt-response JSON lines:
//   prompt, response text            JSON lines with "text", or a plain text file (one document per
//   blank-line-separated block); no loss mask
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mofe/data/templates.h"

namespace mofe::data {

enum class Format { kMmlu, kMedmcqa, kPubmedqa, kSujetFinance, kAlpaca, kPromptResponse, kText };

Format parse_format(const std::string& name);  // UsageError on an unknown name
std::string to_string(Format f);
// From the file name and the first record's keys; UsageError when it cannot tell.
Format detect_format(const std::string& path);

struct Example {
  std::string prompt;    // context, loss-masked (empty for text)
  std::string response;  // trained on
  std::string origin;    // "file:line"
};

// Reason keys of bad records, as counted in the preprocessing summary.
namespace reason {
inline const char* kBadJson = "bad_json";
inline const char* kMissingField = "missing_field";
inline const char* kAnswerOutOfRange = "answer_out_of_range";
inline const char* kInvalidUtf8 = "invalid_utf8";
inline const char* kEmptyQuestion = "empty_question";
}  // namespace reason

struct BadRecord {
  std::string origin, reason, message;
};

struct ReadOptions {
  std::string medmcqa_cop = "auto";  // auto | 0 | 1: base of MedMCQA's "cop"
};

struct ReadCallbacks {
  std::function<void(Example&&)> example;
  std::function<void(const BadRecord&)> bad;
  std::function<void(const std::string&)> note;  // e.g. which MedMCQA cop base was used
  // When set, multiple-choice records arrive here as parsed questions (for `mofe eval`)
  // instead of rendered examples; other records are reported as bad.
  std::function<void(McqTemplate, McqDoc&&, const std::string& origin)> mcq;
};

void read_file(const std::string& path, Format format, const ReadOptions& options,
               const ReadCallbacks& callbacks);
// The same over a file's contents already in memory; `path` names it in messages (and its
// name says an MMLU CSV's subject). The fuzz target drives this.
void read_text(const std::string& text, const std::string& path, Format format,
               const ReadOptions& options, const ReadCallbacks& callbacks);

// MMLU-style parsing helpers, exposed for tests.
struct CsvRow {
  int64_t line = 0;  // the file line the record starts on
  std::vector<std::string> fields;
};
std::vector<CsvRow> parse_csv(const std::string& text);  // as Python's csv module reads it
bool valid_utf8(const std::string& s);

}  // namespace mofe::data
