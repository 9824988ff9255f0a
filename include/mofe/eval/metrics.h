// Metrics as lm-evaluation-harness computes them for multiple-choice tasks:
//   acc       1 if argmax_i loglik_i is the gold choice (ties: the first)
//   acc_norm  the same with loglik_i / len(choice_i in characters)
//   *_stderr  sample standard deviation (n - 1) / sqrt(n) of the per-document 0/1 scores
// Groups: per task; MMLU also per subject and per category, all micro-averaged (every
// question counts once).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mofe/eval/task.h"

namespace mofe::eval {

struct DocScore {
  bool acc = false, acc_norm = false;
  int predicted = -1;
};

// loglik: one value per choice of `doc`.
DocScore score_doc(const EvalDoc& doc, const std::vector<double>& loglik);

struct Aggregate {
  int64_t n = 0;
  double acc = 0, acc_stderr = 0, acc_norm = 0, acc_norm_stderr = 0;
};

Aggregate aggregate(const std::vector<DocScore>& scores);

// Result rows keyed like the harness ("mmlu", "mmlu_stem", "mmlu_college_medicine", or the
// task name and "<task>_<group>" for groups), micro-averaged.
std::map<std::string, Aggregate> aggregate_task(const Task& task,
                                                const std::vector<DocScore>& scores);

// {"results": {name: {acc, acc_stderr, acc_norm, acc_norm_stderr, n}}, "n-samples": ...}
nlohmann::json results_json(const std::map<std::string, Aggregate>& rows);

// A readable table of the same rows.
std::string results_table(const std::map<std::string, Aggregate>& rows);

}  // namespace mofe::eval
