#include "mofe/data/manifest.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mofe/core/atomic_file.h"
#include "mofe/core/error.h"

namespace mofe::data {

using json = nlohmann::json;

namespace {
json to_json(const ShardEntry& s) {
  return {{"split", s.split}, {"file", s.file}, {"samples", s.samples}, {"tokens", s.tokens}};
}
ShardEntry entry_from(const json& j) {
  return ShardEntry{j.at("split"), j.at("file"), j.at("samples"), j.at("tokens")};
}
void sort_entries(std::vector<ShardEntry>& v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return std::tie(a.split, a.file) < std::tie(b.split, b.file);
  });
}
}  // namespace

std::vector<ShardEntry> Manifest::split(const std::string& name) const {
  std::vector<ShardEntry> out;
  for (const auto& s : shards)
    if (s.split == name) out.push_back(s);
  return out;
}

void Manifest::write(const std::string& dir) const {
  json j;
  j["format"] = "mofe-dataset";
  j["version"] = 1;
  j["tokenizer"] = {{"path", tokenizer_path},   {"checksum", tokenizer_checksum},
                    {"vocab_size", vocab_size}, {"bos_id", bos_id},
                    {"eos_id", eos_id},         {"pad_id", pad_id}};
  j["shards"] = json::array();
  for (const auto& s : shards) j["shards"].push_back(to_json(s));
  j["sources"] = json::parse(sources_json.empty() ? "[]" : sources_json);
  j["summary"] = summary;
  core::write_file_atomic(dir + "/manifest.json", j.dump(2) + "\n");
}

Manifest Manifest::read(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  std::ifstream in(path);
  if (!in)
    throw InputError("'" + dir + "' is not a mofe dataset: no manifest.json (run mofe preprocess)");
  Manifest m;
  try {
    json j = json::parse(in);
    if (j.at("format") != "mofe-dataset")
      throw InputError("'" + path + "' is not a mofe dataset manifest");
    const auto& t = j.at("tokenizer");
    m.tokenizer_path = t.at("path"), m.tokenizer_checksum = t.at("checksum");
    m.vocab_size = t.at("vocab_size"), m.bos_id = t.at("bos_id"), m.eos_id = t.at("eos_id");
    m.pad_id = t.at("pad_id");
    for (const auto& s : j.at("shards")) m.shards.push_back(entry_from(s));
    m.sources_json = j.at("sources").dump();
    m.summary = j.value("summary", "");
  } catch (const json::exception& e) {
    throw InputError("'" + path + "': invalid manifest: " + e.what());
  }
  sort_entries(m.shards);
  return m;
}

std::vector<ShardEntry> gather_shards(const std::vector<ShardEntry>& mine,
                                      const dist::Communicator& world) {
  json j = json::array();
  for (const auto& s : mine) j.push_back(to_json(s));
  std::vector<ShardEntry> out;
  for (const auto& text : world.all_gather(j.dump()))
    for (const auto& s : json::parse(text)) out.push_back(entry_from(s));
  sort_entries(out);
  return out;
}

}  // namespace mofe::data
