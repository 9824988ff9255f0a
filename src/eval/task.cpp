#include "mofe/eval/task.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "mofe/core/error.h"
#include "mofe/data/formats.h"

namespace mofe::eval {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kLetters = {"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"};

// Every record of a multiple-choice file; a bad record stops the load with its position.
std::vector<EvalDoc> read_docs(const std::string& path, data::Format f, const std::string& task) {
  std::vector<EvalDoc> out;
  data::ReadCallbacks cb;
  cb.mcq = [&](data::McqTemplate t, data::McqDoc&& d, const std::string& origin) {
    EvalDoc e{t, std::move(d), origin, ""};
    e.group = !e.doc.subject.empty() ? e.doc.subject : task;
    out.push_back(std::move(e));
  };
  cb.bad = [&](const data::BadRecord& b) {
    throw UsageError("task " + task + ": " + b.origin + ": " + b.reason + ": " + b.message);
  };
  cb.note = [](const std::string&) {};
  data::read_file(path, f, {}, cb);
  return out;
}

// {"question", "choices": [...], "answer": index | text} per line.
std::vector<EvalDoc> read_mcq(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("task mcq: cannot open '" + path + "'");
  std::vector<EvalDoc> out;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (data::strip(line).empty()) continue;
    const std::string origin = path + ":" + std::to_string(n);
    auto bad = [&](const std::string& why) {
      throw UsageError("task mcq: " + origin + ": " + why);
    };
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) bad("not a JSON object");
    if (!j.contains("question") || !j["question"].is_string()) bad("no 'question' string");
    if (!j.contains("choices") || !j["choices"].is_array()) bad("no 'choices' list");
    if (j["choices"].empty()) bad("empty choice list");
    if (j["choices"].size() > kLetters.size()) bad("more than 10 choices");
    EvalDoc e;
    e.tmpl = data::McqTemplate::kGeneric;
    e.origin = origin;
    e.group = j.value("subject", std::string("mcq"));
    e.doc.question = j["question"].get<std::string>();
    for (const auto& c : j["choices"]) {
      if (!c.is_string()) bad("choices must be strings");
      e.doc.options.push_back(c.get<std::string>());
    }
    e.doc.choices.assign(kLetters.begin(), kLetters.begin() + long(e.doc.options.size()));
    const auto& a = j.contains("answer") ? j["answer"] : nlohmann::json();
    if (a.is_number_integer()) {
      e.doc.answer = a.get<int>();
    } else if (a.is_string()) {
      auto it = std::find(e.doc.options.begin(), e.doc.options.end(), a.get<std::string>());
      e.doc.answer = it == e.doc.options.end() ? -1 : int(it - e.doc.options.begin());
      if (e.doc.answer < 0) bad("answer '" + a.get<std::string>() + "' is not one of the choices");
    } else {
      bad("no 'answer' (an index or a choice's text)");
    }
    if (e.doc.answer < 0 || e.doc.answer >= int(e.doc.options.size()))
      bad("answer " + std::to_string(e.doc.answer) + " out of range [0, " +
          std::to_string(e.doc.options.size()) + ")");
    out.push_back(std::move(e));
  }
  return out;
}

// sujet-finance records carry a label as text: choices come from the task type.
void resolve_sujet(std::vector<EvalDoc>& docs) {
  for (auto& e : docs) {
    auto labels = data::sujet_labels(e.doc.subject);
    if (labels.empty())
      throw UsageError("task sujet-finance: " + e.origin + ": task_type '" + e.doc.subject +
                       "' is free text, not multiple choice");
    std::string answer = e.doc.answer_text;
    std::transform(answer.begin(), answer.end(), answer.begin(), ::tolower);
    auto it = std::find(labels.begin(), labels.end(), answer);
    if (it == labels.end())
      throw UsageError("task sujet-finance: " + e.origin + ": answer '" + e.doc.answer_text +
                       "' is not a label of task_type '" + e.doc.subject + "'");
    e.doc.choices = labels;
    e.doc.answer = int(it - labels.begin());
  }
}

}  // namespace

std::string mmlu_category(const std::string& s) {
  static const std::map<std::string, std::set<std::string>> kCategories = {
      {"stem",
       {"abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics", "computer_security",
        "conceptual_physics", "electrical_engineering", "elementary_mathematics",
        "high_school_biology", "high_school_chemistry", "high_school_computer_science",
        "high_school_mathematics", "high_school_physics", "high_school_statistics",
        "machine_learning"}},
      {"humanities",
       {"formal_logic", "high_school_european_history", "high_school_us_history",
        "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
        "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
        "world_religions"}},
      {"social sciences",
       {"econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations", "security_studies",
        "sociology", "us_foreign_policy"}},
      {"other",
       {"business_ethics", "clinical_knowledge", "college_medicine", "global_facts", "human_aging",
        "management", "marketing", "medical_genetics", "miscellaneous", "nutrition",
        "professional_accounting", "professional_medicine", "virology"}}};
  for (const auto& [cat, subjects] : kCategories)
    if (subjects.count(s)) return cat;
  return "";
}

namespace {

bool ends_with(const std::string& s, const std::string& x) {
  return s.size() > x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

std::vector<std::string> sorted_files(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// Scored <subject>_<split>.csv files of `dir` (sorted by subject, as the harness orders MMLU's
// subtasks) into t.docs, and <subject>_<pool>.csv into the few-shot pool. Returns how many
// scored files were read.
int read_mmlu_csv_dir(Task& t, const fs::path& dir, const std::string& scored,
                      const std::string& pool) {
  int n = 0;
  for (const auto& f : sorted_files(dir)) {
    const auto base = fs::path(f).filename().string();
    if (ends_with(base, "_" + scored + ".csv")) {
      auto d = read_docs(f, data::Format::kMmlu, t.name);
      t.docs.insert(t.docs.end(), d.begin(), d.end());
      ++n;
    } else if (!pool.empty() && ends_with(base, "_" + pool + ".csv")) {
      for (auto& d : read_docs(f, data::Format::kMmlu, t.name))
        t.fewshot[d.group].push_back(std::move(d));
    }
  }
  return n;
}

bool is_json_lines_name(const std::string& base) {
  return ends_with(base, ".jsonl") || ends_with(base, ".json");
}

void load_mmlu(Task& t, const std::string& path) {
  const fs::path p(path);
  if (!fs::is_directory(p)) {
    t.docs = read_docs(path, data::Format::kMmlu, t.name);
    t.layout = ends_with(path, ".csv") ? "one subject's CSV" : "JSON lines (no few-shot pool)";
    return;
  }
  // The original release: data/{dev,val,test}/<subject>_<split>.csv, given as data/ or as the
  // folder above it.
  for (const fs::path& root : {p, p / "data"})
    if (fs::is_directory(root / "test")) {
      if (read_mmlu_csv_dir(t, root / "test", "test", "") == 0)
        throw UsageError("task mmlu: '" + (root / "test").string() +
                         "' holds no <subject>_test.csv");
      if (fs::is_directory(root / "dev")) read_mmlu_csv_dir(t, root / "dev", "", "dev");
      t.layout = "the original release (" + root.string() + "/{dev,test})";
      return;
    }
  if (read_mmlu_csv_dir(t, p, "test", "dev") > 0) {
    t.layout = "a flat directory of <subject>_{dev,test}.csv";
    return;
  }
  // A Hugging Face export: JSON lines files whose names say the split.
  bool any = false;
  for (const auto& f : sorted_files(p)) {
    const auto base = fs::path(f).filename().string();
    if (!is_json_lines_name(base)) continue;
    if (base.find("test") != std::string::npos) {
      auto d = read_docs(f, data::Format::kMmlu, t.name);
      t.docs.insert(t.docs.end(), d.begin(), d.end());
      any = true;
    } else if (base.find("dev") != std::string::npos) {
      for (auto& d : read_docs(f, data::Format::kMmlu, t.name))
        t.fewshot[d.group].push_back(std::move(d));
    }
  }
  if (any) {
    t.layout = "a Hugging Face export (JSON lines: *test* scored, *dev* the few-shot pool)";
    return;
  }
  throw UsageError("task mmlu: '" + path +
                   "' holds none of the layouts mmlu is read from: the original release "
                   "(test/ and dev/ folders of <subject>_<split>.csv, or data/ holding them), "
                   "<subject>_test.csv files, or JSON lines files named *test* (a Hugging Face "
                   "export); or give one such file");
}

// A file for `name` must hold that task's records: say which format it holds instead.
void check_content(const std::string& name, const std::string& path, data::Format want) {
  data::Format got;
  try {
    got = data::detect_format(path);
  } catch (const std::exception&) {
    return;  // the reader names the first bad record
  }
  if (got != want)
    throw UsageError("task " + name + ": '" + path + "' holds " + data::to_string(got) +
                     " records, not " + data::to_string(want) + ": give the task's file");
}

}  // namespace

Task load_task(const std::string& name, const std::string& path, const std::string& fewshot_path) {
  Task t;
  t.name = name;
  t.source = path;
  const std::set<std::string> known = {"mmlu", "medmcqa", "pubmedqa", "sujet-finance", "mcq"};
  if (!known.count(name))
    throw UsageError("--task: unknown task '" + name +
                     "' (mmlu, medmcqa, pubmedqa, sujet-finance, mcq)");
  if (!fs::exists(path))
    throw UsageError("task " + name + ": --data '" + path + "' does not exist");
  if (name != "mmlu" && fs::is_directory(path))
    throw UsageError("task " + name + ": --data '" + path + "' is a directory: give the file");
  t.layout = "JSON lines";
  if (name == "mmlu") {
    load_mmlu(t, path);
  } else if (name == "medmcqa") {
    check_content(name, path, data::Format::kMedmcqa);
    t.docs = read_docs(path, data::Format::kMedmcqa, name);
  } else if (name == "pubmedqa") {
    check_content(name, path, data::Format::kPubmedqa);
    t.docs = read_docs(path, data::Format::kPubmedqa, name);
  } else if (name == "sujet-finance") {
    check_content(name, path, data::Format::kSujetFinance);
    t.docs = read_docs(path, data::Format::kSujetFinance, name);
    resolve_sujet(t.docs);
  } else {
    t.docs = read_mcq(path);
  }
  if (!fewshot_path.empty()) {
    Task pool = load_task(name, fewshot_path);
    for (auto& d : pool.docs) t.fewshot[d.group].push_back(std::move(d));
  }
  if (t.docs.empty()) throw UsageError("task " + name + ": '" + path + "' holds no documents");
  return t;
}

std::string subtask_of(const Task& task, const EvalDoc& doc) {
  if (doc.group == task.name || doc.group.empty()) return task.name;
  return task.name + "_" + doc.group;
}

std::vector<int64_t> select_docs(const Task& task, double limit) {
  std::map<std::string, int64_t> size, taken;
  for (const auto& d : task.docs) ++size[subtask_of(task, d)];
  std::vector<int64_t> out;
  for (size_t i = 0; i < task.docs.size(); ++i) {
    const std::string s = subtask_of(task, task.docs[i]);
    int64_t keep = size[s];
    if (limit >= 1)
      keep = std::min<int64_t>(keep, int64_t(limit));
    else if (limit > 0)
      keep = int64_t(std::ceil(double(size[s]) * limit));
    if (taken[s]++ < keep) out.push_back(int64_t(i));
  }
  return out;
}

void check_fewshot(const Task& task, int num_fewshot) {
  if (num_fewshot <= 0) return;
  std::set<std::string> seen;
  for (const auto& d : task.docs) {
    if (!seen.insert(d.group).second) continue;
    auto it = task.fewshot.find(d.group);
    const size_t have = it == task.fewshot.end() ? 0 : it->second.size();
    if (int64_t(have) < num_fewshot)
      throw UsageError(
          "--num-fewshot " + std::to_string(num_fewshot) + ": task " + task.name + " has " +
          std::to_string(have) + " few-shot examples for '" + d.group + "' (" +
          (task.name == "mmlu"
               ? std::string("mmlu draws them from the dev split: <subject>_dev.csv beside the "
                             "test files, or dev/ in the original release")
               : std::string("give a training split with --fewshot-data")) +
          ")");
  }
}

}  // namespace mofe::eval
