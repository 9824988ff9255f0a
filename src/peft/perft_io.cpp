#include "mofe/peft/perft_io.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "mofe/core/error.h"
#include "mofe/io/hf_model.h"
#include "mofe/io/safetensors.h"
#include "mofe/peft/adapter_io.h"
#include "mofe/peft/layout.h"
#include "mofe/peft/policy.h"

namespace mofe::peft {

namespace fs = std::filesystem;

namespace {

const char* kConfigFile = "perft_config.json";
const char* kWeightsFile = "perft_adapters.safetensors";
std::string config_path(const std::string& dir) { return (fs::path(dir) / kConfigFile).string(); }
std::string weights_path(const std::string& dir) { return (fs::path(dir) / kWeightsFile).string(); }
const std::string kPrefix = "model.";

std::vector<model::ParamSpec> layout_of(const nlohmann::json& adapters,
                                        const config::ModelConfig& cfg) {
  const auto mode = config::parse_train_mode(adapters.at("mode").get<std::string>());
  const auto peft = config::PeftConfig::from_json(adapters.at("peft"));
  return perft_layout(cfg, perft_spec(mode, peft, cfg));
}

}  // namespace

bool is_perft_dir(const std::string& dir) { return fs::is_regular_file(config_path(dir)); }

nlohmann::json read_perft_dir(const std::string& dir, const config::ModelConfig& cfg) {
  const std::string file = config_path(dir);
  std::ifstream in(file);
  if (!in) throw UsageError("--adapter: cannot open '" + file + "'");
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "mofe-perft")
    throw UsageError("'" + file + "' is not a mofe PERFT adapter description");
  config::TrainMode mode;
  config::PeftConfig peft;
  try {
    mode = config::parse_train_mode(j.at("variant").get<std::string>());
    if (!config::is_perft(mode)) throw UsageError("variant '" + config::to_string(mode) + "'");
    peft.perft_adapters = j.at("adapters").get<int64_t>();
    peft.perft_topk = j.value("top_k", int64_t(1));
    peft.perft_rank = j.at("rank").get<int64_t>();
    peft.perft_adapter = j.at("adapter").get<std::string>();
    peft.perft_act = j.at("act").get<std::string>();
    peft.validate(cfg, mode);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("'" + file + "': " + e.what());
  } catch (const UsageError& e) {
    throw UsageError("'" + file + "': " + e.what());
  }
  const nlohmann::json model = cfg.to_json();
  for (const char* k : {"hidden_size", "num_hidden_layers", "num_local_experts"}) {
    const int64_t want = model.value(k, int64_t(-1));
    if (j.value(k, int64_t(-1)) != want)
      throw UsageError("'" + file + "': " + k + " " + j.value(k, nlohmann::json()).dump() +
                       ", the model has " + std::to_string(want) +
                       ": the adapters were made for another base");
  }
  nlohmann::json adapters = {{"mode", config::to_string(mode)}, {"peft", peft.to_json()}};
  // Every tensor of the layout present with its shape, and nothing else.
  const std::string wfile = weights_path(dir);
  io::SafetensorsFile st(wfile);
  std::map<std::string, const io::StTensor*> have;
  for (const auto& t : st.view().tensors()) have[t.name] = &t;
  for (const auto& s : layout_of(adapters, cfg)) {
    auto it = have.find(kPrefix + s.name);
    if (it == have.end()) throw UsageError("'" + wfile + "' lacks '" + kPrefix + s.name + "'");
    if (it->second->shape != s.shape)
      throw UsageError("'" + wfile + "': '" + it->first + "' has shape " +
                       c10::str(c10::IntArrayRef(it->second->shape)) + ", this model needs " +
                       c10::str(c10::IntArrayRef(s.shape)));
    have.erase(it);
  }
  if (!have.empty())
    throw UsageError("'" + wfile + "': tensor '" + have.begin()->first +
                     "' belongs to no PERFT adapter of this model");
  return adapters;
}

void load_perft(const std::string& dir, model::TransformerImpl& model) {
  const std::string file = weights_path(dir);
  io::SafetensorsFile st(file);
  for (const auto& e : model.params().entries()) {
    if (!e.role.is_adapter()) continue;
    const auto* t = st.view().find(kPrefix + e.name);
    if (!t) throw IoError("'" + file + "' lacks '" + kPrefix + e.name + "'");
    e.assign(io::to_torch(*t, file));
  }
}

void write_perft(const std::string& dir, const io::ModelSource& src, const nlohmann::json& adapters,
                 const std::string& base_model_name_or_path) {
  const auto& cfg = src.config();
  const auto peft = config::PeftConfig::from_json(adapters.at("peft"));
  const auto mode = config::parse_train_mode(adapters.at("mode").get<std::string>());
  std::vector<std::string> names;
  nlohmann::json shapes = nlohmann::json::object();
  for (const auto& s : layout_of(adapters, cfg)) {
    names.push_back(s.name);
    shapes[kPrefix + s.name] = s.shape;
  }
  nlohmann::json j = {{"format", "mofe-perft"},
                      {"version", 1},
                      {"variant", config::to_string(mode)},
                      {"adapters", peft.perft_modules(mode, cfg)},
                      {"top_k", peft.perft_topk},
                      {"rank", peft.perft_rank},
                      {"adapter", peft.perft_adapter},
                      {"act", peft.perft_act},
                      {"aux_coef", peft.perft_aux_coef},
                      {"hidden_size", cfg.hidden_size},
                      {"num_hidden_layers", cfg.num_hidden_layers},
                      {"num_local_experts", cfg.num_local_experts},
                      {"tensors", shapes},
                      {"base_model_name_or_path", base_model_name_or_path}};
  write_adapter_files(
      dir, kWeightsFile, kConfigFile, src, names, [](const std::string& n) { return kPrefix + n; },
      j);
}

}  // namespace mofe::peft
