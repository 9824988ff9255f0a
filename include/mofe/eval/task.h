// Evaluation tasks: multiple-choice documents read from the published formats (data/formats)
// and rendered with the templates training uses (data/templates), as lm-evaluation-harness
// renders them.
//   mmlu           a directory of <subject>_{dev,test}.csv (test scored, dev = few-shot pool,
//                  first N per subject), or HF JSON lines (no few-shot pool)
//   medmcqa        JSON lines (score the validation split: the test split has no labels)
//   pubmedqa       ori_pqal.json or JSON lines; choices yes / no / maybe
//   sujet-finance  JSON lines; choices = the labels the record's task_type allows (below)
//   mcq            JSON lines {"question", "choices": [...], "answer": index or choice text}
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mofe/data/templates.h"

namespace mofe::eval {

struct EvalDoc {
  data::McqTemplate tmpl = data::McqTemplate::kGeneric;
  data::McqDoc doc;
  std::string origin;  // "file:line"
  std::string group;   // subject (mmlu), task type (sujet-finance), else the task name
};

struct Task {
  std::string name;
  std::vector<EvalDoc> docs;                            // scored, in file order
  std::map<std::string, std::vector<EvalDoc>> fewshot;  // by group: the few-shot pool
};

// Throws UsageError naming the task, file and record ("file:line: reason") for an unknown
// task, an unreadable file, a record without a correct answer in range or with no choices.
// `fewshot_path`: where few-shot examples come from for tasks without a dev split ("" = none).
Task load_task(const std::string& name, const std::string& path,
               const std::string& fewshot_path = "");

// MMLU subject -> "stem" | "humanities" | "social sciences" | "other" ("" if unknown).
std::string mmlu_category(const std::string& subject);

}  // namespace mofe::eval
