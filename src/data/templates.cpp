#include "mofe/data/templates.h"

#include <algorithm>

namespace mofe::data {

std::vector<std::string> sujet_labels(const std::string& task_type) {
  if (task_type == "sentiment_analysis" || task_type == "ner_sentiment_analysis")
    return {"positive", "negative", "neutral"};
  if (task_type == "yes_no_question") return {"yes", "no"};
  return {};
}

std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

namespace {
std::string lettered(const std::vector<std::string>& options) {
  std::string out;
  for (size_t i = 0; i < options.size(); ++i)
    out += std::string(1, char('A' + i)) + ". " + options[i] + "\n";
  return out;
}
}  // namespace

std::string render_description(McqTemplate t, const McqDoc& doc) {
  if (t != McqTemplate::kMmlu) return "";
  std::string subject = doc.subject;
  std::replace(subject.begin(), subject.end(), '_', ' ');
  return "The following are multiple choice questions (with answers) about " + subject + ".\n\n";
}

std::string render_question(McqTemplate t, const McqDoc& doc) {
  switch (t) {
    case McqTemplate::kMmlu:
      return strip(doc.question) + "\n" + lettered(doc.options) + "Answer:";
    case McqTemplate::kMedmcqa:
      return "Question: " + doc.question + "\nChoices:\n" + lettered(doc.options) + "Answer:";
    case McqTemplate::kPubmedqa: {
      std::string abstract;
      for (size_t i = 0; i < doc.contexts.size(); ++i)
        abstract += (i ? "\n" : "") + doc.contexts[i];
      return "Abstract: " + abstract + "\nQuestion: " + doc.question + "\nAnswer:";
    }
    case McqTemplate::kSujetFinance: {
      // mofe's own: the record's instruction, the labels its task type allows (none for
      // free-text task types), then "Answer:".
      std::string s = strip(doc.question);
      for (size_t i = 0; i < doc.choices.size(); ++i)
        s += (i ? ", " : "\nOptions: ") + doc.choices[i];
      return s + "\nAnswer:";
    }
    case McqTemplate::kGeneric:
      return "Question: " + strip(doc.question) + "\n" + lettered(doc.options) + "Answer:";
  }
  return "";
}

std::string render_target(const McqDoc& doc) { return " " + doc.choices.at(doc.answer); }

}  // namespace mofe::data
