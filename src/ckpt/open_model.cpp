#include "mofe/ckpt/open_model.h"

#include <filesystem>
#include <fstream>

#include "mofe/ckpt/checkpoint.h"
#include "mofe/ckpt/model_dir.h"
#include "mofe/ckpt/tensor_file.h"
#include "mofe/core/error.h"
#include "mofe/io/hf_model.h"
#include "mofe/io/seeded_model.h"
#include "mofe/model/param_layout.h"
#include "mofe/peft/layout.h"
#include "mofe/peft/policy.h"
#include "mofe/quant/nf4.h"

namespace mofe::ckpt {

namespace fs = std::filesystem;

namespace {

// A checkpoint read as a model: trained tensors from its files, frozen experts from their
// recorded source. Optimizer moments ("m:", "v:") are not part of the model.
class CheckpointModel : public io::ModelSource {
 public:
  explicit CheckpointModel(const std::string& dir) : dir_(dir) {
    std::ifstream in(fs::path(dir) / "state.json");
    state_ = nlohmann::json::parse(in, nullptr, false);
    if (state_.is_discarded() || state_.value("format", "") != "mofe-checkpoint")
      throw IoError("'" + dir + "/state.json' is not a mofe checkpoint description");
    const auto& run = state_.at("config");
    try {
      config_ = config::ModelConfig::from_json(run.at("model"));
    } catch (const UsageError& e) {
      throw UsageError("'" + dir + "/state.json': " + e.what());
    }
    dtype_ = run.at("runtime").value("dtype", "float32");
    // The run's policy says which frozen weights it computed with compressed (a QLoRA base):
    // reading them back gives those values, not the source's, so an export or evaluation sees
    // the function that was trained.
    config::TrainConfig train;
    train.mode = config::parse_train_mode(run.at("train").value("mode", "mofe"));
    train.freeze_experts = run.at("train").value("freeze_experts", std::vector<int64_t>{});
    train.train_parts = run.at("train").value("train_parts", std::vector<std::string>{});
    const auto peft = config::PeftConfig::from_json(run.value("peft", nlohmann::json::object()));
    const auto build = peft::build_options(train, peft, config_, torch::kFloat);
    for (const auto& s : model::param_layout(config_)) {
      shapes_[s.name] = s.shape;
      if (!s.leaf.empty()) {
        const auto plan = build.plan_for(s.role, s.leaf);
        if (plan.storage != quant::WeightStorage::kParam) compressed_[s.name] = plan;
      }
    }
    for (const auto& s : peft::adapter_layout(config_, build)) shapes_[s.name] = s.shape;
    if (config::adapters_only(train.mode))
      adapters_ = {{"mode", config::to_string(train.mode)}, {"peft", peft.to_json()}};
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.path().extension() == ".h5") {
        const nlohmann::json index = read_index(e.path().string());
        for (auto it = index.begin(); it != index.end(); ++it)
          if (it.key().rfind("m:", 0) != 0 && it.key().rfind("v:", 0) != 0) {
            if (!shapes_.count(it.key()))
              throw InputError("'" + e.path().string() + "' holds '" + it.key() +
                               "', which the model of '" + dir +
                               "/state.json' does not have: the config does not match");
            file_of_[it.key()] = e.path();
          }
      }
    const auto& fe = state_.at("frozen_experts");
    if (fe.is_object() && fe.value("source", "") == "model") {
      frozen_ = open_model(fe.at("path").get<std::string>());
      if (frozen_->checksum() != fe.value("checksum", ""))
        throw IoError("checkpoint '" + dir + "': its frozen experts come from '" + frozen_->path() +
                      "', whose checksum is now " + frozen_->checksum() + " instead of " +
                      fe.value("checksum", "") + " (the model was changed)");
    }
    char b[32];
    std::snprintf(b, sizeof b, "step:%lld", static_cast<long long>(state_.value("step", 0)));
    checksum_ = fs::path(dir).filename().string() + "@" + b;
  }

  const config::ModelConfig& config() const override { return config_; }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& kv : shapes_) out.push_back(kv.first);
    return out;
  }
  bool has(const std::string& name) const override { return shapes_.count(name) > 0; }
  torch::Tensor load(const std::string& name) const override {
    if (auto it = file_of_.find(name); it != file_of_.end())
      return read_tensor(it->second.string(), name);
    auto s = shapes_.find(name);
    if (s == shapes_.end()) throw IoError("checkpoint '" + dir_ + "' has no tensor '" + name + "'");
    return as_computed(name, frozen_weight(name));
  }
  std::string kind() const override { return "mofe-checkpoint"; }
  const std::string& path() const override { return dir_; }
  std::string checksum() const override { return checksum_; }
  std::string source_dtype() const override { return frozen_ ? frozen_->source_dtype() : "F32"; }
  nlohmann::json adapters() const override { return adapters_; }

 private:
  // A frozen weight from where the run took it: its model, or the seeded initialisation.
  torch::Tensor frozen_weight(const std::string& name) const {
    if (frozen_) return frozen_->load(name);
    const auto& fe = state_.at("frozen_experts");
    if (fe.is_object() && fe.value("source", "") == "init")
      return io::SeededModel(config_, fe.at("seed").get<uint64_t>(),
                             dtype_ == "float64" ? torch::kFloat64 : torch::kFloat)
          .load(name);
    throw IoError("checkpoint '" + dir_ + "' lacks tensor '" + name + "'");
  }
  // The value the run computed with: a weight it stored compressed goes through that storage.
  torch::Tensor as_computed(const std::string& name, const torch::Tensor& w) const {
    auto it = compressed_.find(name);
    if (it == compressed_.end()) return w;
    if (it->second.storage == quant::WeightStorage::kBf16)
      return w.to(torch::kBFloat16).to(w.scalar_type());
    return quant::nf4_dequantize(quant::nf4_quantize(w, it->second.double_quant), w.scalar_type());
  }

  std::string dir_, dtype_, checksum_;
  nlohmann::json state_;
  config::ModelConfig config_;
  std::map<std::string, std::vector<int64_t>> shapes_;
  std::map<std::string, fs::path> file_of_;
  std::map<std::string, model::ProjectionPlan> compressed_;
  nlohmann::json adapters_;
  std::unique_ptr<io::ModelSource> frozen_;
};

std::string latest_checkpoint(const fs::path& checkpoints) {
  const Latest l = read_latest(checkpoints.string());
  if (l.state != Latest::State::kValid)
    throw InputError("'" + checkpoints.string() + "/latest' " +
                     (l.state == Latest::State::kAbsent
                          ? "does not exist"
                          : "names no checkpoint ('" + l.text + "')") +
                     ": give the checkpoint directory (step_*) itself");
  return (checkpoints / l.name).string();
}

}  // namespace

std::unique_ptr<io::ModelSource> open_model(const std::string& path) {
  const fs::path p(path);
  if (!fs::is_directory(p)) throw UsageError("model '" + path + "' is not a directory");
  if (io::is_hf_dir(path)) return std::make_unique<io::HfModel>(path);
  if (fs::exists(p / "model.json")) return std::make_unique<ModelDir>(path);
  if (fs::exists(p / "state.json")) return std::make_unique<CheckpointModel>(path);
  if (fs::exists(p / "latest")) return open_model(latest_checkpoint(p));
  if (fs::exists(p / "checkpoints" / "latest"))
    return open_model(latest_checkpoint(p / "checkpoints"));
  throw UsageError("'" + path +
                   "' is not a model: expected a Hugging Face directory (config.json + "
                   "*.safetensors), a mofe model (model.json) or a checkpoint (state.json)");
}

std::string find_tokenizer(const std::string& model) {
  for (fs::path p = fs::absolute(model); !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (fs::exists(p / "tokenizer.model")) return (p / "tokenizer.model").string();
    if (fs::exists(p / "config.json")) {  // a run directory's resolved config
      std::ifstream in(p / "config.json");
      auto j = nlohmann::json::parse(in, nullptr, false);
      if (!j.is_discarded() && j.contains("data") && j["data"].value("tokenizer", "") != "")
        return j["data"]["tokenizer"].get<std::string>();
    }
  }
  return "";
}

std::string base_model_path(const std::string& model) {
  auto src = open_model(model);
  if (src->kind() != "mofe-checkpoint") return "";
  std::ifstream in(fs::path(src->path()) / "state.json");
  const auto st = nlohmann::json::parse(in, nullptr, false);
  if (st.is_discarded()) return "";
  const auto fs_ = st.value("frozen_source", nlohmann::json::object());
  return fs_.value("source", "") == "model" ? fs_.value("path", "") : "";
}

}  // namespace mofe::ckpt
