#include "mofe/data/preprocess.h"

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

namespace mofe::data {

namespace fs = std::filesystem;

void PreprocessConfig::validate() const {
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
  for (const auto& in : inputs)
    if (!fs::is_regular_file(in)) throw UsageError("input '" + in + "' does not exist");
}

std::string PreprocessSummary::line() const {
  std::ostringstream os;
  int64_t skipped_total = 0;
  for (const auto& [k, v] : skipped) skipped_total += v;
  os << "records read " << read << ", written " << written << " (train " << train << ", val " << val
     << "), skipped " << skipped_total;
  if (skipped_total) {
    os << " (";
    bool first = true;
    for (const auto& [k, v] : skipped) os << (first ? "" : ", ") << k << " " << v, first = false;
    os << ")";
  }
  os << ", truncated " << truncated << ", tokens " << tokens;
  return os.str();
}

namespace {

// Deterministic split: hash of (seed, global record index) against the fraction.
bool is_val(uint64_t seed, int64_t index, double fraction) {
  uint64_t h = seed ^ (0x9E3779B97F4A7C15ULL * uint64_t(index + 1));
  h ^= h >> 33, h *= 0xff51afd7ed558ccdULL, h ^= h >> 33, h *= 0xc4ceb9fe1a85ec53ULL, h ^= h >> 33;
  return double(h >> 11) / double(1ULL << 53) < fraction;
}

// Tokenize prompt + response once and split at the prompt's token count (harness rule).
// Returns false (and counts) when the sample cannot fit.
bool make_sample(const Tokenizer& tok, const Example& ex, const PreprocessConfig& cfg, Sample& out,
                 bool& truncated) {
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
    if (cfg.truncate == "drop" || excess > cuttable) return false;
    whole.erase(whole.begin() + first, whole.begin() + first + excess);
    mask.erase(mask.begin() + first, mask.begin() + first + excess);
    truncated = true;
  }
  out.tokens = std::move(whole);
  out.loss_mask = std::move(mask);
  return true;
}

}  // namespace

PreprocessSummary preprocess(const PreprocessConfig& cfg, const dist::Communicator& world) {
  Tokenizer tok(cfg.tokenizer);
  if (world.rank() == 0) fs::create_directories(cfg.out_dir);
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
      w = std::make_unique<ShardWriter>((fs::path(cfg.out_dir) / name).string(), m);
    }
    return *w;
  };

  ReadOptions ro{cfg.medmcqa_cop};
  // Records are numbered across all inputs; rank r takes those whose number is r mod world.
  int64_t global_index = 0;
  auto claim = [&](int64_t& index) {
    index = global_index++;
    if (index % world.size() != world.rank()) return false;
    ++sum.read;
    return true;
  };
  for (const auto& in : cfg.inputs) {
    const Format f = cfg.format == "auto" ? detect_format(in) : parse_format(cfg.format);
    ReadCallbacks cb;
    cb.note = [&](const std::string& msg) { log::info0(msg); };
    cb.bad = [&](const BadRecord& b) {
      int64_t index = 0;
      if (!claim(index)) return;
      if (cfg.on_error == "stop")
        throw IoError(b.origin + ": " + b.reason + ": " + b.message +
                      " (use --on-error skip to skip such records)");
      ++sum.skipped[b.reason];
    };
    cb.example = [&](Example&& ex) {
      int64_t index = 0;
      if (!claim(index)) return;
      Sample s;
      bool truncated = false;
      if (!make_sample(tok, ex, cfg, s, truncated)) {
        ++sum.skipped["too_long"];
        return;
      }
      sum.truncated += truncated;
      const std::string split = is_val(cfg.seed, index, cfg.val_fraction) ? "val" : "train";
      (split == "val" ? sum.val : sum.train) += 1;
      ++sum.written;
      sum.tokens += s.tokens.size();
      ShardWriter& w = writer_for(split);
      w.add(s);
      if (w.samples() >= cfg.shard_samples) close_shard(split);
    };
    read_file(in, f, ro, cb);
  }
  close_shard("train");
  close_shard("val");

  // Totals and the shard list on every rank; the manifest only once every shard is closed.
  std::vector<int64_t> counts{sum.read, sum.written, sum.truncated, sum.tokens, sum.train, sum.val};
  std::vector<std::string> reasons = {reason::kBadJson,          reason::kMissingField,
                                      reason::kAnswerOutOfRange, reason::kInvalidUtf8,
                                      reason::kEmptyQuestion,    "too_long"};
  for (const auto& r : reasons) counts.push_back(sum.skipped.count(r) ? sum.skipped[r] : 0);
  MOFE_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, counts.data(), int(counts.size()), MPI_INT64_T,
                               MPI_SUM, world.raw()));
  PreprocessSummary total;
  total.read = counts[0], total.written = counts[1], total.truncated = counts[2],
  total.tokens = counts[3];
  total.train = counts[4], total.val = counts[5];
  for (size_t i = 0; i < reasons.size(); ++i)
    if (counts[6 + i]) total.skipped[reasons[i]] = counts[6 + i];

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
    m.write(cfg.out_dir);
  }
  world.barrier();
  return total;
}

}  // namespace mofe::data
