#include "mofe/eval/task.h"

#include <algorithm>
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

Task load_task(const std::string& name, const std::string& path, const std::string& fewshot_path) {
  Task t;
  t.name = name;
  if (!fs::exists(path))
    throw UsageError("task " + name + ": --data '" + path + "' does not exist");
  auto group_pool = [&](std::vector<EvalDoc> docs) {
    for (auto& d : docs) t.fewshot[d.group].push_back(std::move(d));
  };
  if (name == "mmlu") {
    if (fs::is_directory(path)) {
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(path)) files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        const auto base = fs::path(f).filename().string();
        auto ends = [&](const std::string& x) {
          return base.size() > x.size() && base.compare(base.size() - x.size(), x.size(), x) == 0;
        };
        if (ends("_test.csv")) {
          auto d = read_docs(f, data::Format::kMmlu, name);
          t.docs.insert(t.docs.end(), d.begin(), d.end());
        } else if (ends("_dev.csv")) {
          group_pool(read_docs(f, data::Format::kMmlu, name));
        }
      }
      if (t.docs.empty()) throw UsageError("task mmlu: no <subject>_test.csv in '" + path + "'");
    } else {
      t.docs = read_docs(path, data::Format::kMmlu, name);
    }
  } else if (name == "medmcqa") {
    t.docs = read_docs(path, data::Format::kMedmcqa, name);
  } else if (name == "pubmedqa") {
    t.docs = read_docs(path, data::Format::kPubmedqa, name);
  } else if (name == "sujet-finance") {
    t.docs = read_docs(path, data::Format::kSujetFinance, name);
    resolve_sujet(t.docs);
  } else if (name == "mcq") {
    t.docs = read_mcq(path);
  } else {
    throw UsageError("--task: unknown task '" + name +
                     "' (mmlu, medmcqa, pubmedqa, sujet-finance, mcq)");
  }
  if (!fewshot_path.empty()) {
    Task pool = load_task(name, fewshot_path);
    for (auto& d : pool.docs) t.fewshot[d.group].push_back(std::move(d));
  }
  if (t.docs.empty()) throw UsageError("task " + name + ": '" + path + "' holds no documents");
  return t;
}

}  // namespace mofe::eval
