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
    config_ = config::ModelConfig::from_json(state_.at("config").at("model"));
    dtype_ = state_.at("config").at("runtime").value("dtype", "float32");
    for (const auto& s : model::param_layout(config_)) shapes_[s.name] = s.shape;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.path().extension() == ".h5") {
        const nlohmann::json index = read_index(e.path().string());
        for (auto it = index.begin(); it != index.end(); ++it)
          if (it.key().rfind("m:", 0) != 0 && it.key().rfind("v:", 0) != 0)
            file_of_[it.key()] = e.path();
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
    if (frozen_) return frozen_->load(name);
    const auto& fe = state_.at("frozen_experts");
    if (fe.is_object() && fe.value("source", "") == "init")
      return io::SeededModel(config_, fe.at("seed").get<uint64_t>(),
                             dtype_ == "float64" ? torch::kFloat64 : torch::kFloat)
          .load(name);
    throw IoError("checkpoint '" + dir_ + "' lacks tensor '" + name + "'");
  }
  std::string kind() const override { return "mofe-checkpoint"; }
  const std::string& path() const override { return dir_; }
  std::string checksum() const override { return checksum_; }
  std::string source_dtype() const override { return frozen_ ? frozen_->source_dtype() : "F32"; }

 private:
  std::string dir_, dtype_, checksum_;
  nlohmann::json state_;
  config::ModelConfig config_;
  std::map<std::string, std::vector<int64_t>> shapes_;
  std::map<std::string, fs::path> file_of_;
  std::unique_ptr<io::ModelSource> frozen_;
};

std::string read_latest(const fs::path& checkpoints) {
  const std::string name = latest_name(checkpoints.string());
  if (name.empty()) throw IoError("'" + checkpoints.string() + "/latest' is empty");
  return (checkpoints / name).string();
}

}  // namespace

std::unique_ptr<io::ModelSource> open_model(const std::string& path) {
  const fs::path p(path);
  if (!fs::is_directory(p)) throw UsageError("model '" + path + "' is not a directory");
  if (io::is_hf_dir(path)) return std::make_unique<io::HfModel>(path);
  if (fs::exists(p / "model.json")) return std::make_unique<ModelDir>(path);
  if (fs::exists(p / "state.json")) return std::make_unique<CheckpointModel>(path);
  if (fs::exists(p / "latest")) return open_model(read_latest(p));
  if (fs::exists(p / "checkpoints" / "latest")) return open_model(read_latest(p / "checkpoints"));
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

}  // namespace mofe::ckpt
