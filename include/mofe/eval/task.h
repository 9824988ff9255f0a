// Evaluation tasks: multiple-choice documents read from the published formats (data/formats)
// and rendered with the templates training uses (data/templates), as lm-evaluation-harness
// renders them. Documents stay in the order the source lists them.
//   mmlu           the original release (data/{dev,val,test}/<subject>_<split>.csv: test
//                  scored, dev = few-shot pool, first N per subject), a flat directory of
//                  <subject>_{dev,test}.csv, a Hugging Face export (a directory of JSON lines
//                  whose names hold "test" and "dev", or one JSON lines file: no pool), or
//                  one <subject>_test.csv
//   medmcqa        JSON lines (score the validation split: the test split has no labels)
//   pubmedqa       ori_pqal.json (an object keyed by PubMed id, in file order) or JSON lines;
//                  choices yes / no / maybe
//   sujet-finance  JSON lines; choices = the labels the record's task_type allows
//   mcq            JSON lines {"question", "choices": [...], "answer": index or choice text}
// The file's content decides its format, not its name.
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
  std::string source;                                   // what --data named
  std::string layout;                                   // how it was read, for the log
  std::vector<EvalDoc> docs;                            // scored, in source order
  std::map<std::string, std::vector<EvalDoc>> fewshot;  // by group: the few-shot pool
};

// Throws UsageError naming the task, file and record ("file:line: reason") for an unknown
// task, an unreadable file, a record without a correct answer in range or with no choices.
// `fewshot_path`: where few-shot examples come from for tasks without a dev split ("" = none).
Task load_task(const std::string& name, const std::string& path,
               const std::string& fewshot_path = "");

// The harness's subtask a document is scored under: mmlu_<subject> for MMLU, <task>_<group>
// where a task's documents have groups (sujet-finance task types, mcq subjects), else the task.
std::string subtask_of(const Task& task, const EvalDoc& doc);

// The documents scored under --limit, as the harness selects them: per subtask, the first
// `limit` in source order (limit >= 1), or the first ceil(limit x size) (0 < limit < 1);
// limit 0: all. Indices into task.docs, in source order.
std::vector<int64_t> select_docs(const Task& task, double limit);

// UsageError when a scored document's group has fewer than `num_fewshot` examples to draw
// from: checked before the model is loaded.
void check_fewshot(const Task& task, int num_fewshot);

// MMLU subject -> "stem" | "humanities" | "social sciences" | "other" ("" if unknown).
std::string mmlu_category(const std::string& subject);

}  // namespace mofe::eval
