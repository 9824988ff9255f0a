#include "mofe/data/preprocess.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/data/formats.h"
#include "mofe/data/manifest.h"
#include "mofe/data/shard.h"
#include "mofe/data/tokenizer.h"
#include "mofe/io/staged_dir.h"

namespace mofe::data {

namespace fs = std::filesystem;

int64_t FileCounts::skipped_total() const {
  int64_t n = 0;
  for (const auto& kv : skipped) n += kv.second;
  return n;
}

int64_t FileCounts::dropped_total() const {
  int64_t n = 0;
  for (const auto& kv : dropped) n += kv.second;
  return n;
}

void PreprocessConfig::validate() {
  if (inputs.empty()) throw UsageError("mofe preprocess: no input files given");
  if (tokenizer.empty()) throw UsageError("--tokenizer is required");
  if (out_dir.empty()) throw UsageError("--out is required");
  if (format != "auto") parse_format(format);
  if (val_fraction < 0 || val_fraction >= 1) throw UsageError("--val-fraction must be in [0, 1)");
  if (shard_samples <= 0) throw UsageError("--shard-samples must be positive");
  if (max_seq_len < 2) throw UsageError("--max-seq-len must be at least 2");
  if (truncate != "left" && truncate != "drop")
    throw UsageError("--truncate: expected left or drop");
  if (on_error != "stop" && on_error != "skip")
    throw UsageError("--on-error: expected stop or skip");
  if (medmcqa_cop != "auto" && medmcqa_cop != "0" && medmcqa_cop != "1")
    throw UsageError("--medmcqa-cop: expected auto, 0 or 1");
  if (max_record_bytes <= 0) throw UsageError("--max-record-bytes must be positive");
  for (const auto& in : inputs)
    if (!fs::is_regular_file(in)) throw UsageError("input '" + in + "' does not exist");
  if (!fs::is_regular_file(tokenizer))
    throw UsageError("--tokenizer: '" + tokenizer + "' is not a file");
  std::vector<std::string> apart = inputs;
  apart.push_back(tokenizer);
  io::check_output_apart(out_dir, apart, "--out");
  formats.clear();
  for (const auto& in : inputs)
    formats.push_back(to_string(format == "auto" ? detect_format(in) : parse_format(format)));
}

std::string PreprocessSummary::line() const {
  std::ostringstream os;
  auto list = [&](const char* what, const std::map<std::string, int64_t>& m) {
    int64_t total = 0;
    for (const auto& [k, v] : m) total += v;
    os << ", " << what << " " << total;
    if (!total) return;
    os << " (";
    bool first = true;
    for (const auto& [k, v] : m) os << (first ? "" : ", ") << k << " " << v, first = false;
    os << ")";
  };
  os << "records read " << read << ", written " << written << " (train " << train << ", val " << val
     << ")";
  list("skipped", skipped);
  list("dropped", dropped);
  os << ", truncated " << truncated << ", tokens " << tokens << " (" << trained_tokens
     << " trained)";
  return os.str();
}

namespace {

// The per-rank counts summed over the world (same on every rank): as JSON, since the reason
// keys and file names are open sets.
PreprocessSummary reduce_summary(const PreprocessSummary& mine, const dist::Communicator& world) {
  auto to_json = [](const PreprocessSummary& s) {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& [name, f] : s.files)
      files[name] = {
          {"read", f.read}, {"written", f.written}, {"skipped", f.skipped}, {"dropped", f.dropped}};
    return nlohmann::json{
        {"n", {s.read, s.written, s.truncated, s.tokens, s.train, s.val, s.trained_tokens}},
        {"skipped", s.skipped},
        {"dropped", s.dropped},
        {"files", files}};
  };
  PreprocessSummary t;
  for (const auto& text : world.all_gather(to_json(mine).dump())) {
    const auto j = nlohmann::json::parse(text);
    const auto n = j.at("n").get<std::vector<int64_t>>();
    t.read += n[0], t.written += n[1], t.truncated += n[2], t.tokens += n[3], t.train += n[4],
        t.val += n[5], t.trained_tokens += n[6];
    for (const auto& [k, v] : j.at("skipped").items()) t.skipped[k] += v.get<int64_t>();
    for (const auto& [k, v] : j.at("dropped").items()) t.dropped[k] += v.get<int64_t>();
    for (const auto& [name, f] : j.at("files").items()) {
      auto& d = t.files[name];
      d.read += f.at("read").get<int64_t>();
      d.written += f.at("written").get<int64_t>();
      for (const auto& [k, v] : f.at("skipped").items()) d.skipped[k] += v.get<int64_t>();
      for (const auto& [k, v] : f.at("dropped").items()) d.dropped[k] += v.get<int64_t>();
    }
  }
  return t;
}

// Deterministic split: hash of (seed, global record index) against the fraction.
bool is_val(uint64_t seed, int64_t index, double fraction) {
  uint64_t h = seed ^ (0x9E3779B97F4A7C15ULL * uint64_t(index + 1));
  h ^= h >> 33, h *= 0xff51afd7ed558ccdULL, h ^= h >> 33, h *= 0xc4ceb9fe1a85ec53ULL, h ^= h >> 33;
  return double(h >> 11) / double(1ULL << 53) < fraction;
}

// Tokenize prompt + response once and split at the prompt's token count (harness rule).
// Returns "" and the sample, or the reason it cannot be one (too_long, no_trained_token).
std::string make_sample(const Tokenizer& tok, const Example& ex, const PreprocessConfig& cfg,
                        Sample& out, bool& truncated) {
  std::vector<int32_t> whole = tok.encode(ex.prompt + ex.response);
  const int64_t prompt_len =
      ex.prompt.empty() ? 0 : std::min<int64_t>(tok.encode(ex.prompt).size(), whole.size());
  std::vector<uint8_t> mask(whole.size(), 0);
  for (size_t i = prompt_len; i < whole.size(); ++i) mask[i] = 1;
  if (cfg.add_bos) whole.insert(whole.begin(), tok.bos_id()), mask.insert(mask.begin(), 0);
  if (cfg.add_eos) whole.push_back(tok.eos_id()), mask.push_back(1);
  truncated = false;
  const int64_t excess = int64_t(whole.size()) - cfg.max_seq_len;
  if (excess > 0) {
    const int64_t first = cfg.add_bos ? 1 : 0;  // keep BOS
    const int64_t cuttable = prompt_len;        // only prompt tokens may go
    if (cfg.truncate == "drop" || excess > cuttable) return "too_long";
    whole.erase(whole.begin() + first, whole.begin() + first + excess);
    mask.erase(mask.begin() + first, mask.begin() + first + excess);
    truncated = true;
  }
  // A sample whose every token is masked (an empty response without EOS) teaches nothing and
  // would enter the loss as 0.
  if (std::find(mask.begin(), mask.end(), uint8_t(1)) == mask.end()) return "no_trained_token";
  out.tokens = std::move(whole);
  out.loss_mask = std::move(mask);
  return "";
}

}  // namespace

PreprocessSummary preprocess(const PreprocessConfig& cfg, const dist::Communicator& world) {
  Tokenizer tok(cfg.tokenizer);
  // Written aside, published at the end: the previous dataset stays whole until then.
  std::string token = world.rank() == 0 ? io::make_staging_token() : "";
  world.broadcast(token, 0);
  io::StagedDir staged(cfg.out_dir, token, world.rank() == 0);
  const std::string out_dir = staged.path();
  world.barrier();

  nlohmann::json sources = nlohmann::json::array();
  for (const auto& in : cfg.inputs)
    sources.push_back({{"file", in}, {"checksum", file_checksum(in)}});
  ShardMeta meta{tok.checksum(), tok.vocab_size(), "", sources.dump()};

  PreprocessSummary sum;
  std::map<std::string, std::unique_ptr<ShardWriter>> writers;  // split -> open shard
  std::map<std::string, int64_t> shard_counter;
  std::vector<ShardEntry> written_shards;
  auto close_shard = [&](const std::string& split) {
    auto& w = writers[split];
    if (!w || w->samples() == 0) return;
    w->close();
    written_shards.push_back(
        ShardEntry{split, fs::path(w->path()).filename().string(), w->samples(), w->tokens()});
    w.reset();
  };
  auto writer_for = [&](const std::string& split) -> ShardWriter& {
    auto& w = writers[split];
    if (!w) {
      char name[96];
      std::snprintf(name, sizeof name, "%s-r%04d-%05lld.h5", split.c_str(), world.rank(),
                    static_cast<long long>(shard_counter[split]++));
      ShardMeta m = meta;
      m.split = split;
      w = std::make_unique<ShardWriter>((fs::path(out_dir) / name).string(), m);
    }
    return *w;
  };

  ReadOptions ro{cfg.medmcqa_cop};
  // Records are numbered across all inputs; rank r takes those whose number is r mod world.
  int64_t global_index = 0;
  FileCounts* file = nullptr;  // the counts of the input being read (this rank's records)
  auto claim = [&](int64_t& index) {
    index = global_index++;
    if (index % world.size() != world.rank()) return false;
    ++sum.read;
    ++file->read;
    return true;
  };
  auto bad = [&](const BadRecord& b) {
    if (cfg.on_error == "stop")
      throw InputError(b.origin + ": " + b.reason + ": " + b.message +
                       " (use --on-error skip to skip such records)");
    ++sum.skipped[b.reason];
    ++file->skipped[b.reason];
  };
  for (size_t fi = 0; fi < cfg.inputs.size(); ++fi) {
    const std::string& in = cfg.inputs[fi];
    file = &sum.files[in];
    const Format f = fi < cfg.formats.size() ? parse_format(cfg.formats[fi])
                     : cfg.format == "auto"  ? detect_format(in)
                                             : parse_format(cfg.format);
    ReadCallbacks cb;
    cb.note = [&](const std::string& msg) { log::info0(msg); };
    cb.bad = [&](const BadRecord& b) {
      int64_t index = 0;
      if (claim(index)) bad(b);
    };
    cb.example = [&](Example&& ex) {
      int64_t index = 0;
      if (!claim(index)) return;
      if (int64_t(ex.prompt.size() + ex.response.size()) > cfg.max_record_bytes) {
        bad(BadRecord{ex.origin, "record_too_large",
                      std::to_string(ex.prompt.size() + ex.response.size()) +
                          " bytes of text, more than --max-record-bytes " +
                          std::to_string(cfg.max_record_bytes)});
        return;
      }
      Sample s;
      bool truncated = false;
      if (const std::string why = make_sample(tok, ex, cfg, s, truncated); !why.empty()) {
        ++sum.dropped[why];
        ++file->dropped[why];
        return;
      }
      sum.truncated += truncated;
      const std::string split = is_val(cfg.seed, index, cfg.val_fraction) ? "val" : "train";
      (split == "val" ? sum.val : sum.train) += 1;
      ++sum.written;
      ++file->written;
      sum.tokens += s.tokens.size();
      sum.trained_tokens += std::count(s.loss_mask.begin(), s.loss_mask.end(), uint8_t(1));
      ShardWriter& w = writer_for(split);
      w.add(s);
      if (w.samples() >= cfg.shard_samples) close_shard(split);
    };
    read_file(in, f, ro, cb);
  }
  close_shard("train");
  close_shard("val");

  // Totals and the shard list on every rank; the manifest only once every shard is closed.
  const PreprocessSummary total = reduce_summary(sum, world);
  // Every record read is written, skipped or dropped, file by file.
  for (const auto& [name, f] : total.files)
    if (f.read != f.written + f.skipped_total() + f.dropped_total())
      throw Error("preprocess lost records of '" + name + "': read " + std::to_string(f.read) +
                  ", written " + std::to_string(f.written) + ", skipped " +
                  std::to_string(f.skipped_total()) + ", dropped " +
                  std::to_string(f.dropped_total()));
  if (total.trained_tokens == 0)
    throw InputError("no sample of " + std::to_string(total.read) +
                     " records has a trained token (" + total.line() +
                     "): an empty response with --no-eos trains on nothing");

  auto all_shards = gather_shards(written_shards, world);
  if (world.rank() == 0) {
    Manifest m;
    m.tokenizer_checksum = tok.checksum();
    m.tokenizer_path = cfg.tokenizer;
    m.vocab_size = tok.vocab_size();
    m.bos_id = tok.bos_id(), m.eos_id = tok.eos_id(), m.pad_id = tok.pad_id();
    m.shards = all_shards;
    m.sources_json = sources.dump();
    m.summary = total.line();
    m.write(out_dir);
  }
  world.barrier();
  if (world.rank() == 0) staged.publish();
  world.barrier();
  return total;
}

}  // namespace mofe::data
