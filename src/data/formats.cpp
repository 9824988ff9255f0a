#include "mofe/data/formats.h"

#include <optional>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mofe/core/error.h"

namespace mofe::data {

namespace {

using json = nlohmann::json;

// A record that cannot become an example: carries the reason key.
struct Reject {
  std::string reason, message;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string basename(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

const json& field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    throw Reject{reason::kMissingField, std::string("missing field '") + key + "'"};
  return *it;
}

std::string text_field(const json& j, const char* key) {
  const json& v = field(j, key);
  if (!v.is_string())
    throw Reject{reason::kMissingField, std::string("field '") + key + "' is not a string"};
  return v.get<std::string>();
}

int64_t int_field(const json& j, const char* key) {
  const json& v = field(j, key);
  if (!v.is_number_integer())
    throw Reject{reason::kMissingField, std::string("field '") + key + "' is not an integer"};
  return v.get<int64_t>();
}

// A parsed record: the training example, and for multiple-choice formats the question itself
// (what `mofe eval` scores, through ReadCallbacks::mcq).
struct Record {
  Example example;
  std::optional<std::pair<McqTemplate, McqDoc>> mcq;
  Record(Example e) : example(std::move(e)) {}  // NOLINT: implicit on purpose
  Record(Example e, McqTemplate t, McqDoc d)
      : example(std::move(e)), mcq(std::make_pair(t, std::move(d))) {}
};

Record mcq_example(McqTemplate t, McqDoc doc) {
  if (strip(doc.question).empty()) throw Reject{reason::kEmptyQuestion, "empty question"};
  if (doc.answer < 0 || doc.answer >= int(doc.choices.size()))
    throw Reject{reason::kAnswerOutOfRange, "answer index " + std::to_string(doc.answer) +
                                                " out of range [0, " +
                                                std::to_string(doc.choices.size()) + ")"};
  Example ex{render_description(t, doc) + render_question(t, doc), render_target(doc), ""};
  return Record(std::move(ex), t, std::move(doc));
}

const std::vector<std::string> kLetters = {"A", "B", "C", "D"};

Record mmlu_json(const json& j) {
  McqDoc d;
  d.subject = text_field(j, "subject");
  d.question = text_field(j, "question");
  const json& c = field(j, "choices");
  if (!c.is_array() || c.size() != 4)
    throw Reject{reason::kMissingField, "'choices' must be a list of 4 strings"};
  for (const auto& x : c) d.options.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  d.choices = kLetters;
  d.answer = static_cast<int>(int_field(j, "answer"));
  return mcq_example(McqTemplate::kMmlu, d);
}

Record medmcqa(const json& j, int cop_base) {
  McqDoc d;
  d.question = text_field(j, "question");
  for (const char* k : {"opa", "opb", "opc", "opd"}) d.options.push_back(text_field(j, k));
  d.choices = kLetters;
  d.answer = static_cast<int>(int_field(j, "cop") - cop_base);
  return mcq_example(McqTemplate::kMedmcqa, d);
}

Record pubmedqa(const json& j) {
  McqDoc d;
  d.question = text_field(j, "QUESTION");
  const json& ctx = field(j, "CONTEXTS");
  if (!ctx.is_array()) throw Reject{reason::kMissingField, "'CONTEXTS' must be a list"};
  for (const auto& x : ctx) d.contexts.push_back(x.get<std::string>());
  d.choices = {"yes", "no", "maybe"};
  const std::string decision = text_field(j, "final_decision");
  d.answer = decision == "yes" ? 0 : decision == "no" ? 1 : decision == "maybe" ? 2 : -1;
  if (d.answer < 0)
    throw Reject{reason::kAnswerOutOfRange,
                 "final_decision '" + decision + "' is not yes/no/maybe"};
  return mcq_example(McqTemplate::kPubmedqa, d);
}

Record from_json(Format f, const json& j, int cop_base) {
  if (!j.is_object()) throw Reject{reason::kBadJson, "record is not a JSON object"};
  switch (f) {
    case Format::kMmlu:
      return mmlu_json(j);
    case Format::kMedmcqa:
      return medmcqa(j, cop_base);
    case Format::kPubmedqa:
      return pubmedqa(j);
    case Format::kSujetFinance: {
      const std::string inputs = text_field(j, "inputs"), answer = text_field(j, "answer");
      if (strip(inputs).empty()) throw Reject{reason::kEmptyQuestion, "empty 'inputs'"};
      // The label set depends on the task type: eval fills choices (eval/task.cpp).
      McqDoc d;
      d.question = strip(inputs);
      d.answer_text = strip(answer);
      d.subject = j.contains("task_type") && j["task_type"].is_string()
                      ? j["task_type"].get<std::string>()
                      : "";
      // Trained on the text eval scores: the labels of the task type are listed when known.
      McqDoc shown = d;
      shown.choices = sujet_labels(d.subject);
      return Record(
          Example{render_question(McqTemplate::kSujetFinance, shown), " " + strip(answer), ""},
          McqTemplate::kSujetFinance, std::move(d));
    }
    case Format::kAlpaca: {
      const std::string instruction = text_field(j, "instruction"),
                        output = text_field(j, "output");
      std::string input =
          j.contains("input") && j["input"].is_string() ? j["input"].get<std::string>() : "";
      if (strip(instruction).empty()) throw Reject{reason::kEmptyQuestion, "empty 'instruction'"};
      std::string prompt = "### Instruction:\n" + instruction + "\n\n";
      if (!strip(input).empty()) prompt += "### Input:\n" + input + "\n\n";
      return Example{prompt + "### Response:\n", output, ""};
    }
    case Format::kPromptResponse: {
      const std::string prompt = text_field(j, "prompt");
      if (strip(prompt).empty()) throw Reject{reason::kEmptyQuestion, "empty 'prompt'"};
      return Example{prompt, text_field(j, "response"), ""};
    }
    case Format::kText:
      return Example{"", text_field(j, "text"), ""};
  }
  throw Reject{reason::kBadJson, "unsupported format"};
}

// Calls fn(line_number, line) for each non-empty line.
template <typename Fn>
void for_each_line(const std::string& text, Fn fn) {
  size_t start = 0;
  int64_t line = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    std::string s = text.substr(start, end - start);
    if (!s.empty() && s.back() == '\r') s.pop_back();
    if (!strip(s).empty()) fn(line, s);
    start = end + 1;
  }
}

Reject classify_json_error(const json::exception& e) {
  const std::string what = e.what();
  if (what.find("UTF-8") != std::string::npos || what.find("utf-8") != std::string::npos)
    return Reject{reason::kInvalidUtf8, "invalid UTF-8"};
  return Reject{reason::kBadJson, "bad JSON: " + what};
}

int detect_cop_base(const std::string& text, const std::string& path, const ReadCallbacks& cb) {
  bool zero = false, four = false;
  for_each_line(text, [&](int64_t, const std::string& s) {
    try {
      auto j = json::parse(s);
      if (j.is_object() && j.contains("cop") && j["cop"].is_number_integer()) {
        zero |= j["cop"].get<int64_t>() == 0;
        four |= j["cop"].get<int64_t>() == 4;
      }
    } catch (const json::exception&) {
    }
  });
  if (zero && four)
    throw UsageError("'" + path + "': MedMCQA 'cop' has both 0 and 4: pass --medmcqa-cop 0 or 1");
  const int base = four ? 1 : 0;
  if (cb.note)
    cb.note("'" + path + "': MedMCQA 'cop' read as " +
            (base ? "1-based (original release)" : "0-based (Hugging Face copy)") +
            (zero || four ? "" : " (no 0 or 4 seen: assumed)"));
  return base;
}

}  // namespace

bool valid_utf8(const std::string& s) {
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int extra = c < 0x80           ? 0
                      : (c >> 5) == 0x6  ? 1
                      : (c >> 4) == 0xE  ? 2
                      : (c >> 3) == 0x1E ? 3
                                         : -1;
    if (extra < 0 || i + extra > n - 1) return false;  // bad lead byte or cut-off sequence
    for (int k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += extra + 1;
  }
  return true;
}

std::vector<CsvRow> parse_csv(const std::string& text) {
  // Python's csv.reader with the default (excel) dialect, as pandas and the datasets library
  // read MMLU: a field that starts with a quote is quoted ("" inside is a quote; commas and
  // newlines are kept); a quote anywhere else is an ordinary character; after a closing
  // quote, anything but a comma or a line end is kept too (strict=False); an unclosed quote
  // runs to the end of the file. A UTF-8 byte-order mark is dropped (encoding utf-8-sig, as
  // pandas does). Blank lines are no records (pandas' skip_blank_lines).
  // Why not a library: Debian packages no C++ CSV reader that follows Python's rules.
  enum State { kStartRecord, kStartField, kInField, kInQuoted, kQuoteInQuoted };
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  State st = kStartRecord;
  int64_t line = 1;
  size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  auto end_field = [&] { row.fields.push_back(std::move(field)), field.clear(); };
  auto end_record = [&] {
    end_field();
    rows.push_back(std::move(row));
    row = CsvRow{};
    st = kStartRecord;
  };
  for (; i < text.size(); ++i) {
    const char c = text[i];
    const bool eol = c == '\n' || c == '\r';
    // A line end: \r\n counts once.
    auto next_line = [&] {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
    };
    switch (st) {
      case kStartRecord:
        if (eol) {
          next_line();
          continue;  // a blank line
        }
        row.line = line;
        st = kStartField;
        [[fallthrough]];
      case kStartField:
        if (eol) {
          end_record();
          next_line();
        } else if (c == '"') {
          st = kInQuoted;
        } else if (c == ',') {
          end_field();
        } else {
          field += c;
          st = kInField;
        }
        break;
      case kInField:
        if (eol) {
          end_record();
          next_line();
        } else if (c == ',') {
          end_field();
          st = kStartField;
        } else {
          field += c;
        }
        break;
      case kInQuoted:
        if (c == '"') {
          st = kQuoteInQuoted;
        } else {
          field += c;
          if (c == '\n' || (c == '\r' && !(i + 1 < text.size() && text[i + 1] == '\n'))) ++line;
        }
        break;
      case kQuoteInQuoted:
        if (c == '"') {
          field += '"';
          st = kInQuoted;
        } else if (c == ',') {
          end_field();
          st = kStartField;
        } else if (eol) {
          end_record();
          next_line();
        } else {
          field += c;
          st = kInField;
        }
        break;
    }
  }
  if (st != kStartRecord) end_record();
  return rows;
}

Format parse_format(const std::string& name) {
  static const std::map<std::string, Format> names = {
      {"mmlu", Format::kMmlu},         {"medmcqa", Format::kMedmcqa},
      {"pubmedqa", Format::kPubmedqa}, {"sujet-finance", Format::kSujetFinance},
      {"alpaca", Format::kAlpaca},     {"prompt-response", Format::kPromptResponse},
      {"text", Format::kText}};
  auto it = names.find(name);
  if (it == names.end())
    throw UsageError("--format: unknown format '" + name +
                     "' (mmlu, medmcqa, pubmedqa, sujet-finance, alpaca, prompt-response, text)");
  return it->second;
}

std::string to_string(Format f) {
  switch (f) {
    case Format::kMmlu:
      return "mmlu";
    case Format::kMedmcqa:
      return "medmcqa";
    case Format::kPubmedqa:
      return "pubmedqa";
    case Format::kSujetFinance:
      return "sujet-finance";
    case Format::kAlpaca:
      return "alpaca";
    case Format::kPromptResponse:
      return "prompt-response";
    case Format::kText:
      return "text";
  }
  return "?";
}

Format detect_format(const std::string& path) {
  const std::string name = basename(path);
  auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".csv")) return Format::kMmlu;
  if (ends(".txt")) return Format::kText;
  std::ifstream in(path);
  if (!in) throw InputError("cannot open '" + path + "'");
  std::string line;
  while (std::getline(in, line) && strip(line).empty()) {
  }
  if (strip(line).empty()) throw UsageError("'" + path + "' is empty: it holds no record");
  auto has_keys = [](const json& j, std::initializer_list<const char*> keys) {
    if (!j.is_object()) return false;
    for (const char* k : keys)
      if (!j.contains(k)) return false;
    return true;
  };
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception&) {
    // Not JSON lines: one JSON document over many lines, as PubMedQA's ori_pqal.json (an
    // object keyed by PubMed id) is, whatever the file is called.
    json all = json::parse(read_all(path), nullptr, false);
    if (all.is_object() && !all.empty() &&
        has_keys(all.begin().value(), {"QUESTION", "final_decision"}))
      return Format::kPubmedqa;
    throw UsageError("'" + path +
                     "': cannot detect the format (neither JSON lines nor a PubMedQA object "
                     "keyed by id): pass --format");
  }
  auto has = [&](const char* k) { return j.is_object() && j.contains(k); };
  if (has("choices") && has("subject")) return Format::kMmlu;
  if (has("opa") && has("cop")) return Format::kMedmcqa;
  if (has("QUESTION") && has("final_decision")) return Format::kPubmedqa;
  if (j.is_object() && !j.empty() && has_keys(j.begin().value(), {"QUESTION", "final_decision"}))
    return Format::kPubmedqa;  // ori_pqal.json written on one line
  if (has("inputs") && has("answer")) return Format::kSujetFinance;
  if (has("instruction") && has("output")) return Format::kAlpaca;
  if (has("prompt") && has("response")) return Format::kPromptResponse;
  if (has("text")) return Format::kText;
  throw UsageError("'" + path + "': cannot detect the format from its keys: pass --format");
}

void read_file(const std::string& path, Format format, const ReadOptions& options,
               const ReadCallbacks& cb) {
  read_text(read_all(path), path, format, options, cb);
}

void read_text(const std::string& text, const std::string& path, Format format,
               const ReadOptions& options, const ReadCallbacks& cb) {
  const std::string name = basename(path);
  auto emit = [&](int64_t line, const std::function<Record()>& make) {
    const std::string origin = path + ":" + std::to_string(line);
    try {
      Record rec = make();
      if (cb.mcq) {
        if (!rec.mcq) throw Reject{reason::kMissingField, "not a multiple-choice record"};
        cb.mcq(rec.mcq->first, std::move(rec.mcq->second), origin);
        return;
      }
      Example ex = std::move(rec.example);
      ex.origin = origin;
      cb.example(std::move(ex));
    } catch (const Reject& r) {
      cb.bad(BadRecord{origin, r.reason, r.message});
    } catch (const json::exception& e) {
      Reject r = classify_json_error(e);
      cb.bad(BadRecord{origin, r.reason, r.message});
    }
  };

  if (format == Format::kMmlu && name.size() > 4 && name.substr(name.size() - 4) == ".csv") {
    // "<subject>_<split>.csv", e.g. college_medicine_test.csv
    const auto us = name.rfind('_');
    const std::string subject = name.substr(0, us == std::string::npos ? name.size() - 4 : us);
    if (!valid_utf8(text)) {
      cb.bad(BadRecord{path + ":1", reason::kInvalidUtf8, "file is not valid UTF-8"});
      return;
    }
    for (const auto& csv : parse_csv(text)) {
      const auto& row = csv.fields;
      emit(csv.line, [&] {
        if (row.size() != 6)
          throw Reject{
              reason::kMissingField,
              "expected 6 CSV fields (question,A,B,C,D,answer), got " + std::to_string(row.size())};
        McqDoc d;
        d.subject = subject;
        d.question = row[0];
        d.options = {row[1], row[2], row[3], row[4]};
        d.choices = kLetters;
        const std::string a = strip(row[5]);
        d.answer = a.size() == 1 && a[0] >= 'A' && a[0] <= 'Z' ? a[0] - 'A' : -1;
        return mcq_example(McqTemplate::kMmlu, d);
      });
    }
    return;
  }
  if (format == Format::kText && !(name.size() > 6 && name.substr(name.size() - 6) == ".jsonl")) {
    if (!valid_utf8(text)) {
      cb.bad(BadRecord{path + ":1", reason::kInvalidUtf8, "file is not valid UTF-8"});
      return;
    }
    // Plain text: documents separated by blank lines.
    std::string doc;
    int64_t first = 1, line = 0;
    std::istringstream in(text);
    std::string s;
    while (std::getline(in, s)) {
      ++line;
      if (strip(s).empty()) {
        if (!doc.empty()) emit(first, [&] { return Record(Example{"", doc, ""}); });
        doc.clear();
        first = line + 1;
      } else {
        doc += (doc.empty() ? "" : "\n") + s;
      }
    }
    if (!doc.empty()) emit(first, [&] { return Record(Example{"", doc, ""}); });
    return;
  }
  if (format == Format::kPubmedqa) {
    // ori_pqal.json is one object keyed by PubMed id; JSON lines fail to parse as one value.
    // Parsed in the order the file lists the ids (ordered_json): a sorted map would order them
    // as strings, and --limit would take another subset than the harness does (#12).
    nlohmann::ordered_json all;
    bool keyed = false;
    try {
      all = nlohmann::ordered_json::parse(text);
      keyed = all.is_object() && !all.contains("QUESTION");
    } catch (const json::exception&) {
    }
    if (keyed) {
      int64_t i = 0;
      for (auto it = all.begin(); it != all.end(); ++it)
        emit(++i, [&] { return pubmedqa(json::parse(it.value().dump())); });
      return;
    }
  }
  int cop_base = 0;
  if (format == Format::kMedmcqa) {
    if (options.medmcqa_cop == "auto")
      cop_base = detect_cop_base(text, path, cb);
    else
      cop_base = options.medmcqa_cop == "1" ? 1 : 0;
  }
  for_each_line(text, [&](int64_t line, const std::string& s) {
    emit(line, [&] { return from_json(format, json::parse(s), cop_base); });
  });
}

}  // namespace mofe::data
