// Prompt templates shared by `mofe preprocess` (instruction tuning) and `mofe eval` (scoring),
// so a model is tuned on exactly the text it is scored on. The multiple-choice ones are the
// lm-evaluation-harness defaults:
//   mmlu      description "The following are multiple choice questions (with answers) about
//             {subject, '_' -> ' '}.\n\n", then "{question.strip()}\nA. {c0}\nB. {c1}\nC. {c2}\nD.
//             {c3}\nAnswer:"
//   medmcqa   "Question: {question}\nChoices:\nA. {opa}\nB. {opb}\nC. {opc}\nD. {opd}\nAnswer:"
//   pubmedqa  "Abstract: {contexts joined by \n}\nQuestion: {question}\nAnswer:"
// The continuation (target) is " " + choice ("target delimiter" of the harness).
#pragma once

#include <string>
#include <vector>

namespace mofe::data {

// A multiple-choice question, whatever its source format.
struct McqDoc {
  std::string subject;  // mmlu subject ("college_medicine"), empty otherwise
  std::string question;
  std::vector<std::string> options;   // the answer texts
  std::vector<std::string> choices;   // what is scored/generated: "A".."D", or "yes"/"no"/"maybe"
  std::vector<std::string> contexts;  // pubmedqa abstract sentences
  int answer = -1;                    // index into choices
  std::string answer_text;            // sujet-finance: the label, before choices are known
};

enum class McqTemplate { kMmlu, kMedmcqa, kPubmedqa, kSujetFinance, kGeneric };

// The rendered question, ending with "Answer:" (no trailing space).
std::string render_question(McqTemplate t, const McqDoc& doc);
// The task description put before the first example (mmlu only; empty otherwise).
std::string render_description(McqTemplate t, const McqDoc& doc);
// " " + choices[answer]
std::string render_target(const McqDoc& doc);

// sujet-finance: the labels a task type allows (lower case); empty for free-text task types.
std::vector<std::string> sujet_labels(const std::string& task_type);

// Python's str.strip(): leading and trailing whitespace removed.
std::string strip(const std::string& s);

}  // namespace mofe::data
