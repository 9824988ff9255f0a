#include "mofe/eval/metrics.h"

#include <cmath>
#include <cstdio>
#include <set>

namespace mofe::eval {

DocScore score_doc(const EvalDoc& doc, const std::vector<double>& loglik) {
  DocScore s;
  int best = 0, best_norm = 0;
  for (size_t i = 1; i < loglik.size(); ++i) {
    if (loglik[i] > loglik[size_t(best)]) best = int(i);
    const double a = loglik[i] / double(doc.doc.choices[i].size());
    const double b = loglik[size_t(best_norm)] / double(doc.doc.choices[size_t(best_norm)].size());
    if (a > b) best_norm = int(i);
  }
  s.predicted = best;
  s.acc = best == doc.doc.answer;
  s.acc_norm = best_norm == doc.doc.answer;
  return s;
}

std::optional<double> mean_stderr(const std::vector<double>& xs) {
  if (xs.size() < 2) return std::nullopt;
  double mean = 0;
  for (double x : xs) mean += x;
  mean /= double(xs.size());
  double ss = 0;
  for (double x : xs) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / double(xs.size() - 1)) / std::sqrt(double(xs.size()));
}

std::optional<double> pooled_sample_stderr(const std::vector<std::optional<double>>& stderrs,
                                           const std::vector<int64_t>& sizes) {
  double num = 0, total = 0;
  for (size_t i = 0; i < stderrs.size(); ++i) {
    if (!stderrs[i]) return std::nullopt;
    num += double(sizes[i] - 1) * *stderrs[i] * *stderrs[i] * double(sizes[i]);
    total += double(sizes[i]);
  }
  const double dof = total - double(stderrs.size());
  if (stderrs.empty() || dof <= 0) return std::nullopt;
  return std::sqrt(num / dof / total);
}

namespace {

std::string pretty(std::string s) {  // "social_sciences" -> "social sciences"
  for (auto& c : s)
    if (c == '_') c = ' ';
  return s;
}

std::string indent(int depth) { return depth == 0 ? "" : std::string(size_t(depth), ' ') + "- "; }

ResultRow leaf(const std::string& name, const std::string& alias, int depth,
               const std::vector<DocScore>& s, int64_t original) {
  ResultRow r;
  r.name = name;
  r.alias = indent(depth) + alias;
  r.depth = depth;
  r.n = int64_t(s.size());
  r.original = original;
  std::vector<double> acc, norm;
  for (const auto& x : s) acc.push_back(x.acc), norm.push_back(x.acc_norm);
  auto mean = [](const std::vector<double>& v) {
    double t = 0;
    for (double x : v) t += x;
    return v.empty() ? 0.0 : t / double(v.size());
  };
  r.acc = {mean(acc), mean_stderr(acc)};
  r.acc_norm = {mean(norm), mean_stderr(norm)};
  return r;
}

// A group over `leaves` (rows already made): size-weighted means, pooled stderr.
ResultRow group(const std::string& name, const std::string& alias, int depth,
                const std::vector<const ResultRow*>& leaves, std::vector<std::string> children,
                double version) {
  ResultRow g;
  g.name = name;
  g.alias = indent(depth) + alias;
  g.group = true;
  g.depth = depth;
  g.children = std::move(children);
  g.version = version;
  std::vector<std::optional<double>> se_acc, se_norm;
  std::vector<int64_t> sizes;
  double acc = 0, norm = 0;
  for (const ResultRow* l : leaves) {
    g.leaves.push_back(l->name);
    g.n += l->n;
    g.original += l->original;
    acc += l->acc.value * double(l->n);
    norm += l->acc_norm.value * double(l->n);
    se_acc.push_back(l->acc.stderr_);
    se_norm.push_back(l->acc_norm.stderr_);
    sizes.push_back(l->n);
  }
  g.acc = {g.n ? acc / double(g.n) : 0.0, pooled_sample_stderr(se_acc, sizes)};
  g.acc_norm = {g.n ? norm / double(g.n) : 0.0, pooled_sample_stderr(se_norm, sizes)};
  return g;
}

}  // namespace

std::vector<ResultRow> task_rows(const Task& task, const std::vector<int64_t>& docs,
                                 const std::vector<DocScore>& scores) {
  // Subtasks in first-seen order of the source (MMLU: sorted by subject), with their scores.
  std::vector<std::string> order;
  std::map<std::string, std::vector<DocScore>> by;
  std::map<std::string, std::string> group_of;
  std::map<std::string, int64_t> original;
  for (const auto& d : task.docs) {
    const auto s = subtask_of(task, d);
    if (!original.count(s)) order.push_back(s), group_of[s] = d.group;
    ++original[s];
  }
  for (size_t i = 0; i < docs.size(); ++i)
    by[subtask_of(task, task.docs[size_t(docs[i])])].push_back(scores[i]);
  std::vector<std::string> scored;
  for (const auto& s : order)
    if (by.count(s)) scored.push_back(s);

  std::vector<ResultRow> out;
  if (scored.size() == 1 && scored.front() == task.name) {  // one plain task
    out.push_back(leaf(task.name, task.name, 0, by[task.name], original[task.name]));
    return out;
  }
  if (task.name != "mmlu") {  // a group over its task types / subjects
    std::vector<ResultRow> leaves;
    for (const auto& s : scored) leaves.push_back(leaf(s, group_of[s], 1, by[s], original[s]));
    std::vector<const ResultRow*> ptrs;
    for (const auto& l : leaves) ptrs.push_back(&l);
    out.push_back(group(task.name, task.name, 0, ptrs, scored, 1.0));
    out.insert(out.end(), leaves.begin(), leaves.end());
    return out;
  }
  // MMLU: mmlu > mmlu_<category> > mmlu_<subject>; categories in the harness's order.
  const std::vector<std::string> cats = {"humanities", "other", "social sciences", "stem"};
  std::map<std::string, std::vector<ResultRow>> cat_leaves;
  std::vector<ResultRow> loose;  // subjects mmlu does not know: directly under mmlu
  for (const auto& s : scored) {
    const std::string cat = mmlu_category(group_of[s]);
    (cat.empty() ? loose : cat_leaves[cat])
        .push_back(leaf(s, group_of[s], cat.empty() ? 1 : 2, by[s], original[s]));
  }
  std::vector<const ResultRow*> all;
  std::vector<std::string> children;
  std::vector<ResultRow> body;
  for (const auto& c : cats) {
    if (!cat_leaves.count(c)) continue;
    std::vector<const ResultRow*> ptrs;
    std::vector<std::string> names;
    for (const auto& l : cat_leaves[c])
      ptrs.push_back(&l), names.push_back(l.name), all.push_back(&l);
    std::string gname = "mmlu_" + c;
    for (auto& ch : gname)
      if (ch == ' ') ch = '_';
    children.push_back(gname);
    body.push_back(group(gname, pretty(c), 1, ptrs, names, 2.0));
    body.insert(body.end(), cat_leaves[c].begin(), cat_leaves[c].end());
  }
  for (const auto& l : loose) all.push_back(&l), children.push_back(l.name);
  out.push_back(group("mmlu", "mmlu", 0, all, children, 2.0));
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), loose.begin(), loose.end());
  return out;
}

namespace {

void put_metrics(nlohmann::ordered_json& j, const ResultRow& r) {
  auto se = [](const Metric& m) {
    return m.stderr_ ? nlohmann::ordered_json(*m.stderr_) : nlohmann::ordered_json("N/A");
  };
  j["alias"] = r.alias;
  j["acc,none"] = r.acc.value;
  j["acc_stderr,none"] = se(r.acc);
  j["acc_norm,none"] = r.acc_norm.value;
  j["acc_norm_stderr,none"] = se(r.acc_norm);
}

nlohmann::ordered_json task_config(const Task& task, const ResultRow& r, int num_fewshot) {
  const bool mmlu = task.name == "mmlu";
  const auto alias = r.alias.substr(r.alias.find_first_not_of(" -"));
  nlohmann::ordered_json metric_list = nlohmann::ordered_json::array();
  for (const char* m : {"acc", "acc_norm"})
    metric_list.push_back({{"metric", m}, {"aggregation", "mean"}, {"higher_is_better", true}});
  return {{"task", r.name},
          {"task_alias", alias},
          {"dataset_path", task.source},
          {"test_split", mmlu ? "test" : "validation"},
          {"fewshot_split", mmlu ? "dev" : "train"},
          {"target_delimiter", " "},
          {"fewshot_delimiter", "\n\n"},
          {"fewshot_config", {{"sampler", mmlu ? "first_n" : "default"}}},
          {"num_fewshot", num_fewshot},
          {"metric_list", metric_list},
          {"output_type", "multiple_choice"},
          {"repeats", 1},
          {"should_decontaminate", false},
          {"metadata", {{"version", r.version}}}};
}

}  // namespace

nlohmann::ordered_json results_json(const std::vector<TaskRun>& runs) {
  using oj = nlohmann::ordered_json;
  oj j = {{"results", oj::object()},          {"groups", oj::object()},
          {"group_subtasks", oj::object()},   {"configs", oj::object()},
          {"versions", oj::object()},         {"n-shot", oj::object()},
          {"higher_is_better", oj::object()}, {"n-samples", oj::object()}};
  for (const auto& run : runs) {
    for (const auto& r : run.rows) {
      put_metrics(j["results"][r.name], r);
      j["versions"][r.name] = r.version;
      j["higher_is_better"][r.name] = {{"acc", true}, {"acc_norm", true}};
      if (r.group) {
        put_metrics(j["groups"][r.name], r);
        j["group_subtasks"][r.name] = r.children;
        continue;
      }
      if (r.depth == 0) j["group_subtasks"][r.name] = oj::array();
      j["configs"][r.name] = task_config(*run.task, r, run.num_fewshot);
      j["n-shot"][r.name] = run.num_fewshot;
      j["n-samples"][r.name] = {{"original", r.original}, {"effective", r.n}};
    }
  }
  if (j["groups"].empty()) j.erase("groups");
  return j;
}

std::string results_table(const std::vector<TaskRun>& runs) {
  std::string out =
      "|                 Tasks                 |Version|Filter|n-shot| Metric |   |Value |   "
      "|Stderr|\n"
      "|---------------------------------------|------:|------|-----:|--------|---|-----:|---|-----"
      ":|\n";
  char line[320];
  for (const auto& run : runs)
    for (const auto& r : run.rows) {
      bool first = true;
      for (const auto& [name, m] : {std::pair<const char*, Metric>{"acc", r.acc},
                                    std::pair<const char*, Metric>{"acc_norm", r.acc_norm}}) {
        char se[32] = "   N/A";
        if (m.stderr_) std::snprintf(se, sizeof se, "%.4f", *m.stderr_);
        char shot[16] = "";
        if (!r.group) std::snprintf(shot, sizeof shot, "%d", run.num_fewshot);
        std::snprintf(line, sizeof line, "|%-39s|%7s|none  |%6s|%-8s|↑  |%.4f|±  |%6s|\n",
                      first ? r.alias.c_str() : "", first ? (r.version == 2.0 ? "2" : "1") : "",
                      shot, name, m.value, se);
        out += line;
        first = false;
      }
    }
  return out;
}

}  // namespace mofe::eval
