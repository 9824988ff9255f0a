#include "mofe/ckpt/checkpoint.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mofe/ckpt/model_dir.h"
#include "mofe/ckpt/tensor_file.h"
#include "mofe/core/atomic_file.h"
#include "mofe/core/error.h"
#include "mofe/core/fault.h"
#include "mofe/core/log.h"
#include "mofe/dist/collective_trace.h"

namespace mofe::ckpt {

namespace fs = std::filesystem;

namespace {

std::string step_name(int64_t step) {
  char b[32];
  std::snprintf(b, sizeof b, "step_%08lld", static_cast<long long>(step));
  return b;
}

// A tensor plus its AdamW moments ("m:" and "v:" prefixes).
void add_with_state(NamedTensors& out, const StateTensor& t) {
  out.emplace_back(t.name, t.value);
  if (t.exp_avg && t.exp_avg->defined()) {
    out.emplace_back("m:" + t.name, *t.exp_avg);
    out.emplace_back("v:" + t.name, *t.exp_avg_sq);
  }
}

void load_with_state(const std::map<std::string, torch::Tensor>& in, const StateTensor& t,
                     const std::string& file) {
  auto it = in.find(t.name);
  if (it == in.end()) throw IoError("checkpoint '" + file + "' lacks tensor '" + t.name + "'");
  if (it->second.sizes() != t.value.sizes())
    throw IoError("checkpoint '" + file + "': tensor '" + t.name + "' has another shape");
  torch::NoGradGuard no_grad;
  t.value.copy_(it->second);
  if (t.exp_avg && in.count("m:" + t.name)) {
    *t.exp_avg = in.at("m:" + t.name).to(t.value.options()).contiguous();
    *t.exp_avg_sq = in.at("v:" + t.name).to(t.value.options()).contiguous();
  }
}

bool all_ok(bool ok, const dist::Communicator& world) { return world.all_true(ok); }

int64_t dir_bytes(const std::string& dir) {
  int64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

}  // namespace

std::vector<std::string> published(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step_", 0) == 0 && n.find(".tmp") == std::string::npos &&
        fs::exists(e.path() / "state.json"))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

SaveReport save(const config::CheckpointConfig& cc, const config::RunConfig& run, int64_t step,
                const TrainState& state, const dist::ProcessGroups& groups) {
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path final_dir = fs::path(cc.dir) / step_name(step);
  const fs::path tmp = fs::path(cc.dir) / (step_name(step) + ".tmp");
  if (groups.world.rank() == 0) {
    fs::remove_all(tmp);
    fs::create_directories(tmp / "experts");
  }
  groups.world.barrier();

  // Fault injection names a checkpoint by the step it saves (counted from 1).
  const int64_t fault_step = step;
  bool first_file = true;
  auto wrote_file = [&] {
    if (first_file) fault::at("checkpoint-write", fault_step);
    first_file = false;
  };
  // World-replicated tensors go to dense.h5 (world rank 0); an expert's tensors (its weights,
  // the adapters on them) to that expert's file, written by the replica at dp rank 0.
  NamedTensors dense;
  std::map<std::pair<int64_t, int64_t>, NamedTensors> files;
  for (const auto& t : state.tensors) {
    if (!t.trained && !cc.full) continue;
    if (t.role.expert < 0) {
      if (groups.world.rank() == 0) add_with_state(dense, t);
    } else if (groups.dp.rank() == 0) {
      add_with_state(files[{t.role.layer, t.role.expert}], t);
    }
  }
  if (groups.world.rank() == 0) {
    write_tensors((tmp / "dense.h5").string(), dense);
    wrote_file();
  }
  if (groups.dp.rank() == 0) {
    for (const auto& [key, tensors] : files) {
      write_tensors((tmp / expert_file(key.first, key.second)).string(), tensors);
      wrote_file();
    }
  }
  groups.world.barrier();  // every file of this checkpoint is written and flushed

  if (groups.world.rank() == 0) {
    fault::at("checkpoint-manifest", fault_step);
    nlohmann::json st;
    st["format"] = "mofe-checkpoint";
    st["version"] = 1;
    st["step"] = step;
    st["optimizer_steps"] = *state.optimizer_steps;
    st["samples"] = *state.samples;
    if (state.loss_scaler) st["loss_scaler"] = *state.loss_scaler;
    st["frozen_experts"] = cc.full ? nlohmann::json("in this checkpoint") : state.provenance;
    st["frozen_source"] = state.provenance;
    st["layout"] = {
        {"world", groups.world.size()}, {"ep", groups.ep.size()}, {"dp", groups.dp.size()}};
    st["config"] = run.to_json();
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    st["versions"] = {
        {"mofe", "0.1.0"},
        {"torch", TORCH_VERSION},
        {"hdf5", std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel)}};
    core::write_file_atomic(tmp / "state.json", st.dump(2) + "\n");
    core::sync_path(tmp / "experts");
    core::sync_path(tmp);
    fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);
    fault::at("checkpoint-latest", fault_step);
    core::write_file_atomic(fs::path(cc.dir) / "latest", step_name(step) + "\n");
    auto all = published(cc.dir);
    for (size_t i = 0; i + cc.keep < all.size(); ++i) fs::remove_all(all[i]);
  }
  groups.world.barrier();
  SaveReport r;
  r.path = final_dir.string();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.bytes = groups.world.rank() == 0 ? dir_bytes(r.path) : 0;
  return r;
}

namespace {

nlohmann::json read_state_json(const std::string& path) {
  std::ifstream in(path + "/state.json");
  if (!in) throw IoError("checkpoint '" + path + "' has no state.json");
  nlohmann::json st = nlohmann::json::parse(in, nullptr, false);
  if (st.is_discarded() || st.value("format", "") != "mofe-checkpoint")
    throw IoError("checkpoint '" + path + "': damaged state.json");
  // The step must be a count >= 0, and the one the directory's name says (step_00000120).
  const auto& step = st["step"];
  const std::string dir = fs::path(path).lexically_normal().filename().string();
  const bool named = dir.size() == 13 && dir.compare(0, 5, "step_") == 0 &&
                     dir.find_first_not_of("0123456789", 5) == std::string::npos;
  if (!step.is_number_integer() || step.get<int64_t>() < 0 ||
      !st["optimizer_steps"].is_number_integer() ||
      (named && step.get<int64_t>() != std::stoll(dir.substr(5))))
    throw IoError("'" + path + "/state.json': step " + step.dump() +
                  (named ? " does not match the directory's name" : " is not a step count") +
                  ": damaged state.json");
  return st;
}

// Loads one checkpoint into this rank's tensors; throws IoError on any damage.
int64_t load_one(const std::string& path, TrainState& state) {
  const nlohmann::json st = read_state_json(path);
  std::map<std::string, std::map<std::string, torch::Tensor>> cache;
  auto file_of = [&](const StateTensor& t) {
    return path + "/" + (t.role.expert < 0 ? "dense.h5" : expert_file(t.role.layer, t.role.expert));
  };
  for (const auto& t : state.tensors) {
    const std::string file = file_of(t);
    if (!cache.count(file)) {
      if (!fs::exists(file)) {
        if (t.trained) throw IoError("checkpoint '" + path + "' lacks '" + file + "'");
        continue;  // a frozen tensor: it comes from its source, already in the model
      }
      cache[file] = read_tensors(file);
    }
    if (!t.trained && !cache[file].count(t.name)) continue;
    load_with_state(cache[file], t, file);
  }
  *state.optimizer_steps = st.at("optimizer_steps").get<int64_t>();
  const int64_t step = st.at("step").get<int64_t>();
  // A run that scales its loss continues with the scale it had (a checkpoint without one: the
  // scaler starts afresh).
  if (state.loss_scaler && st.contains("loss_scaler")) *state.loss_scaler = st.at("loss_scaler");
  if (st.contains("samples")) {
    *state.samples = st.at("samples").get<int64_t>();
  } else {  // before samples were recorded: step x that run's global batch
    const auto& t = st.at("config").at("train");
    const auto& l = st.at("layout");
    *state.samples = step * t.at("micro_batch").get<int64_t>() * t.at("grad_accum").get<int64_t>() *
                     l.at("dp").get<int64_t>() * l.at("ep").get<int64_t>();
  }
  return step;
}

// "model at PATH (crc32:...)" / "the seeded initialisation (seed 7)": for messages.
std::string describe_source(const nlohmann::json& p) {
  if (p.value("source", "") == "model")
    return "model '" + p.value("path", "?") + "' (" + p.value("checksum", "?") + ")";
  if (p.value("source", "") == "init")
    return "the seeded initialisation (seed " + std::to_string(p.value("seed", uint64_t(0))) + ")";
  return p.dump();
}

bool same_source(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.value("source", "") != b.value("source", "")) return false;
  if (a.value("source", "") == "model") return a.value("checksum", "") == b.value("checksum", "");
  return a.value("seed", uint64_t(0)) == b.value("seed", uint64_t(0));
}

}  // namespace

int64_t restore(const config::CheckpointConfig& cc, TrainState& state,
                const dist::ProcessGroups& groups) {
  if (cc.resume.empty()) return 0;
  std::vector<std::string> candidates;
  if (cc.resume == "auto") {
    // Newest first, starting at the one `latest` names: a directory newer than that was renamed
    // but never published (clean_unpublished removes it when the run holds its lock). When
    // `latest` cannot be read, every intact checkpoint is a candidate, newest first.
    const Latest latest = read_latest(cc.dir);
    if (latest.state == Latest::State::kUnreadable)
      log::warn0("'" + cc.dir + "/latest' is unreadable ('" + latest.text +
                 "'): resuming from the newest intact step_* checkpoint instead");
    auto all = published(cc.dir);
    for (auto it = all.rbegin(); it != all.rend(); ++it)
      if (latest.state != Latest::State::kValid || fs::path(*it).filename().string() <= latest.name)
        candidates.push_back(*it);
    if (candidates.empty()) {
      log::info0("resume auto: no checkpoint in " + cc.dir + ", starting from scratch");
      return 0;
    }
  } else {
    candidates.push_back(cc.resume);
  }
  for (const auto& path : candidates) {
    std::string error;
    int64_t step = 0;
    try {
      step = load_one(path, state);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (all_ok(error.empty(), groups.world)) {
      log::info0("resumed from " + path + " at step " + std::to_string(step));
      return step;
    }
    if (!error.empty()) log::error("cannot load checkpoint: " + error);
    if (cc.resume != "auto") throw IoError("checkpoint '" + path + "' cannot be loaded");
    log::warn0("checkpoint " + path + " is damaged; falling back to the previous one");
  }
  throw IoError("no intact checkpoint in " + cc.dir);
}

void check_resume(const config::CheckpointConfig& cc, const config::RunConfig& run,
                  const nlohmann::json& provenance) {
  if (cc.resume.empty()) return;
  std::string path = cc.resume;
  if (cc.resume == "auto") {
    const std::string latest = latest_name(cc.dir);
    if (latest.empty()) {  // restore() falls back to the newest intact one: check that
      const auto all = published(cc.dir);
      if (all.empty()) return;
      path = all.back();
    } else {
      path = (fs::path(cc.dir) / latest).string();
    }
  }
  nlohmann::json st;
  try {
    st = read_state_json(path);
  } catch (const IoError& e) {
    // Under auto, restore() reports the damage and falls back; a checkpoint named explicitly
    // must be sound before any work.
    if (cc.resume != "auto") throw UsageError(std::string("--resume: ") + e.what());
    return;
  }
  const auto& then = st.value("config", nlohmann::json::object());
  const auto now = run.to_json();
  auto refuse = [&](const std::string& setting, const nlohmann::json& a, const nlohmann::json& b) {
    throw UsageError("cannot resume from '" + path + "': " + setting + " is " + a.dump() +
                     " in the checkpoint and " + b.dump() +
                     " in this run (resume with the checkpoint's value, or start a new "
                     "--out-dir)");
  };
  auto same = [&](const char* section, const char* key, const std::string& setting) {
    const auto& a = then.value(section, nlohmann::json::object());
    const auto& b = now.at(section);
    if (!a.contains(key)) return;  // a checkpoint from before the setting existed
    if (a.at(key) != b.at(key)) refuse(setting, a.at(key), b.at(key));
  };
  // The frozen weights first: what a resume from another base would silently mix.
  if (st["frozen_experts"].is_object()) {  // not so for --full-checkpoint: they are inside
    const auto& recorded =
        st.contains("frozen_source") ? st["frozen_source"] : st["frozen_experts"];
    if (!same_source(recorded, provenance))
      throw UsageError("checkpoint '" + path + "' was trained on " + describe_source(recorded) +
                       ", this run starts from " + describe_source(provenance) +
                       ": its frozen weights would not match (give the same --model and --seed, "
                       "or a new --out-dir)");
  }
  same("train", "mode", "--mode");
  same("train", "seed", "--seed");
  for (const char* k :
       {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "vocab_size", "num_local_experts", "num_experts_per_tok",
        "tie_word_embeddings", "rope_theta", "rms_norm_eps"})
    same("model", k, std::string("the model's ") + k);
  if (config::is_peft(run.train.mode))
    for (const char* k : {"lora_r", "lora_alpha", "lora_targets", "use_rslora", "train_router",
                          "train_embeddings", "frozen_dtype", "double_quant"})
      same("peft", k, std::string("--") + k);
  if (config::is_perft(run.train.mode))
    for (const char* k : {"perft_adapters", "perft_topk", "perft_rank", "perft_adapter",
                          "perft_act", "frozen_dtype", "double_quant"}) {
      std::string option = k;  // the command line's spelling: perft_rank -> --perft-rank
      std::replace(option.begin(), option.end(), '_', '-');
      same("peft", k, "--" + option);
    }
}

void clean_unpublished(const std::string& dir) {
  if (!fs::is_directory(dir)) return;
  const Latest latest = read_latest(dir);
  if (latest.state == Latest::State::kUnreadable)
    log::warn0("'" + dir + "/latest' is unreadable ('" + latest.text +
               "'): keeping every step_* directory");
  std::vector<fs::path> doomed;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    const bool tmp = n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0;
    const bool unpublished = !tmp && n.rfind("step_", 0) == 0 &&
                             latest.state == Latest::State::kValid && n > latest.name;
    if (tmp || unpublished) doomed.push_back(e.path());
  }
  for (const auto& p : doomed) {
    log::warn0("removing " + p.string() + ": a checkpoint that was being written when a run " +
               "stopped and was never published");
    fs::remove_all(p);
  }
}

Latest read_latest(const std::string& dir) {
  Latest l;
  const fs::path p = fs::path(dir) / "latest";
  if (!fs::exists(p)) return l;
  std::ifstream in(p);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  l.text = text.substr(0, 64);
  const bool shaped = text.size() == 13 && text.compare(0, 5, "step_") == 0 &&
                      text.find_first_not_of("0123456789", 5) == std::string::npos;
  if (shaped && fs::exists(fs::path(dir) / text / "state.json")) {
    l.state = Latest::State::kValid;
    l.name = text;
  } else {
    l.state = Latest::State::kUnreadable;
  }
  return l;
}

std::string latest_name(const std::string& dir) {
  const Latest l = read_latest(dir);
  return l.state == Latest::State::kValid ? l.name : "";
}

}  // namespace mofe::ckpt
