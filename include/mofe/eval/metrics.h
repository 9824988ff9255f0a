// Metrics and results as lm-evaluation-harness (v0.4) computes and writes them, for
// multiple-choice tasks:
//   acc        1 if argmax_i loglik_i is the gold choice (ties: the first)
//   acc_norm   the same with loglik_i / len(choice_i in characters)
//   *_stderr   per subtask: sample standard deviation (n - 1) / sqrt(n) of the 0/1 scores
//              ("N/A" for one document); per group: the subtasks' values weighted by their
//              sizes, and the harness's pooled_sample_stderr over its leaf subtasks,
//                sqrt( sum_i (n_i - 1) n_i se_i^2 / (sum_i n_i - k) / sum_i n_i )
// Names as the harness's: subtasks mmlu_<subject> (alias "  - <subject>"), groups mmlu_stem,
// mmlu_humanities, mmlu_social_sciences, mmlu_other (alias " - social sciences"), mmlu.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
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

// One metric over some documents: its value and (when defined) its standard error.
struct Metric {
  double value = 0;
  std::optional<double> stderr_;  // none: "N/A"
};

// One row of the harness's results: a subtask (leaf) or a group over leaves.
struct ResultRow {
  std::string name, alias;  // "mmlu_anatomy", "  - anatomy"
  bool group = false;
  int depth = 0;         // 0 task or top group, 1 subgroup or subtask, ...
  int64_t n = 0;         // documents scored (effective)
  int64_t original = 0;  // documents the subtask has
  Metric acc, acc_norm;
  std::vector<std::string> children;  // a group's direct subtasks or subgroups
  std::vector<std::string> leaves;    // a group's leaf subtasks
  double version = 1.0;
};

// The sample standard error of 0/1 scores (nullopt for fewer than two).
std::optional<double> mean_stderr(const std::vector<double>& xs);
// The harness's pooled_sample_stderr (nullopt when any is).
std::optional<double> pooled_sample_stderr(const std::vector<std::optional<double>>& stderrs,
                                           const std::vector<int64_t>& sizes);

// The rows of one task, in the harness's print order (group, its subgroups each followed by
// their subtasks). `docs` indexes task.docs; scores[i] belongs to docs[i].
std::vector<ResultRow> task_rows(const Task& task, const std::vector<int64_t>& docs,
                                 const std::vector<DocScore>& scores);

// What a task was run with, for the results' configs/n-shot sections.
struct TaskRun {
  const Task* task = nullptr;
  std::vector<ResultRow> rows;
  int num_fewshot = 0;
};

// The harness's v0.4 results document: results, groups, group_subtasks, configs, versions,
// n-shot, higher_is_better, n-samples ("config", "date" and the rest are the caller's).
nlohmann::ordered_json results_json(const std::vector<TaskRun>& runs);

// The harness's table: Tasks | Version | Filter | n-shot | Metric | Value | Stderr.
std::string results_table(const std::vector<TaskRun>& runs);

}  // namespace mofe::eval
