#include "mofe/eval/metrics.h"

#include <cmath>
#include <cstdio>

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

Aggregate aggregate(const std::vector<DocScore>& scores) {
  Aggregate a;
  a.n = int64_t(scores.size());
  if (a.n == 0) return a;
  auto mean_stderr = [&](auto get, double& mean, double& err) {
    double sum = 0;
    for (const auto& s : scores) sum += get(s);
    mean = sum / double(a.n);
    if (a.n < 2) return;
    double ss = 0;
    for (const auto& s : scores) ss += (get(s) - mean) * (get(s) - mean);
    err = std::sqrt(ss / double(a.n - 1)) / std::sqrt(double(a.n));
  };
  mean_stderr([](const DocScore& s) { return s.acc ? 1.0 : 0.0; }, a.acc, a.acc_stderr);
  mean_stderr([](const DocScore& s) { return s.acc_norm ? 1.0 : 0.0; }, a.acc_norm,
              a.acc_norm_stderr);
  return a;
}

std::map<std::string, Aggregate> aggregate_task(const Task& task,
                                                const std::vector<DocScore>& scores) {
  std::map<std::string, std::vector<DocScore>> by;
  for (size_t i = 0; i < task.docs.size(); ++i) {
    const auto& d = task.docs[i];
    by[task.name].push_back(scores[i]);
    if (d.group != task.name) by[task.name + "_" + d.group].push_back(scores[i]);
    if (task.name == "mmlu") {
      const std::string cat = mmlu_category(d.group);
      if (!cat.empty()) by["mmlu_" + cat].push_back(scores[i]);
    }
  }
  std::map<std::string, Aggregate> out;
  for (const auto& [name, s] : by) out[name] = aggregate(s);
  return out;
}

nlohmann::json results_json(const std::map<std::string, Aggregate>& rows) {
  nlohmann::json j;
  for (const auto& [name, a] : rows) {
    j["results"][name] = {{"acc", a.acc},
                          {"acc_stderr", a.acc_stderr},
                          {"acc_norm", a.acc_norm},
                          {"acc_norm_stderr", a.acc_norm_stderr},
                          {"alias", name}};
    j["n-samples"][name] = {{"original", a.n}, {"effective", a.n}};
  }
  return j;
}

std::string results_table(const std::map<std::string, Aggregate>& rows) {
  std::string out =
      "|task                                   |     n |   acc  | stderr | acc_norm | stderr |\n"
      "|---------------------------------------|------:|-------:|-------:|---------:|-------:|\n";
  char line[256];
  for (const auto& [name, a] : rows) {
    std::snprintf(line, sizeof line, "|%-39s|%6lld| %.4f | %.4f |  %.4f  | %.4f |\n", name.c_str(),
                  static_cast<long long>(a.n), a.acc, a.acc_stderr, a.acc_norm, a.acc_norm_stderr);
    out += line;
  }
  return out;
}

}  // namespace mofe::eval
