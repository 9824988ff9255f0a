#include "mofe/peft/adapter_io.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "mofe/core/error.h"
#include "mofe/io/hf_model.h"
#include "mofe/io/hf_names.h"
#include "mofe/io/safetensors.h"
#include "mofe/peft/layout.h"

namespace mofe::peft {

namespace fs = std::filesystem;

namespace {

const char* kPrefix = "base_model.model.";

std::string config_path(const std::string& dir) {
  return (fs::path(dir) / "adapter_config.json").string();
}
std::string weights_path(const std::string& dir) {
  return (fs::path(dir) / "adapter_model.safetensors").string();
}

// HF module name of a target on a model: Mixtral calls the experts' projections w1/w3/w2.
std::string hf_target(const std::string& canonical, bool moe) {
  if (moe && canonical == "gate_proj") return "w1";
  if (moe && canonical == "up_proj") return "w3";
  if (moe && canonical == "down_proj") return "w2";
  return canonical;
}

}  // namespace

std::string to_peft_name(const std::string& mofe_name) {
  return kPrefix + io::to_hf_name(mofe_name);
}

std::string from_peft_name(const std::string& peft_name) {
  const std::string p = kPrefix;
  if (peft_name.compare(0, p.size(), p) != 0) return "";
  return io::from_hf_name(peft_name.substr(p.size()));
}

PeftAdapterConfig read_adapter_config(const std::string& dir) {
  const std::string file = config_path(dir);
  std::ifstream in(file);
  if (!in)
    throw UsageError("--adapter: cannot open '" + file +
                     "' (a peft adapter directory has "
                     "adapter_config.json and adapter_model.safetensors)");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw UsageError("'" + file + "' is not a JSON object");
  auto bad = [&](const std::string& field, const std::string& why) {
    return UsageError("'" + file + "': " + field + " " + why);
  };
  PeftAdapterConfig a;
  a.dir = dir;
  if (j.value("peft_type", "") != "LORA")
    throw bad("peft_type", "'" + j.value("peft_type", "") +
                               "' is not LORA (mofe loads LoRA and "
                               "DoRA adapters)");
  try {
    a.r = j.at("r").get<int64_t>();
    a.lora_alpha = j.value("lora_alpha", double(a.r));
    a.lora_dropout = j.value("lora_dropout", 0.0);
    a.use_dora = j.value("use_dora", false);
    a.use_rslora = j.value("use_rslora", false);
    if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
      a.base_model = j["base_model_name_or_path"].get<std::string>();
    const auto& t = j.at("target_modules");
    if (t.is_string())
      throw bad("target_modules", "is a regular expression; give the module names as a list");
    a.target_modules = t.get<std::vector<std::string>>();
    if (j.contains("modules_to_save") && !j["modules_to_save"].is_null())
      a.modules_to_save = j["modules_to_save"].get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw bad("fields", std::string("are malformed: ") + e.what());
  }
  if (a.r <= 0) throw bad("r", "must be positive");
  if (j.value("bias", std::string("none")) != "none")
    throw bad("bias",
              "'" + j.value("bias", "") + "' is not supported (mofe's projections have no bias)");
  if (j.value("fan_in_fan_out", false)) throw bad("fan_in_fan_out", "true is not supported");
  for (const auto& m : a.modules_to_save)
    if (m != "gate" && m != "embed_tokens" && m != "lm_head")
      throw bad("modules_to_save", "'" + m + "' is not supported (gate, embed_tokens, lm_head)");
  return a;
}

void adopt_adapter_config(const PeftAdapterConfig& a, config::PeftConfig& peft,
                          config::TrainMode& mode, const std::vector<std::string>& given) {
  auto explicitly = [&](const char* option) {
    return std::find(given.begin(), given.end(), option) != given.end();
  };
  auto conflict = [&](const char* option, const std::string& ours, const std::string& theirs) {
    throw UsageError("--" + std::string(option) + " " + ours + " contradicts the adapter '" +
                     config_path(a.dir) + "' (" + theirs + ")");
  };
  if (explicitly("lora-r") && peft.lora_r != a.r)
    conflict("lora-r", std::to_string(peft.lora_r), "r " + std::to_string(a.r));
  if (explicitly("lora-alpha") && peft.lora_alpha != a.lora_alpha)
    conflict("lora-alpha", std::to_string(peft.lora_alpha),
             "lora_alpha " + std::to_string(a.lora_alpha));
  std::vector<std::string> targets;
  for (const auto& t : a.target_modules) {
    const std::string c = config::canonical_target(t);
    if (c.empty())
      throw UsageError("'" + config_path(a.dir) + "': target_modules entry '" + t +
                       "' names no module of a Llama/Mixtral model");
    targets.push_back(t);
  }
  if (mode == config::TrainMode::kDora && !a.use_dora)
    conflict("mode", "dora", "a LoRA adapter: use_dora false");
  if (a.use_dora && mode != config::TrainMode::kDora) {
    if (mode == config::TrainMode::kQlora)
      throw UsageError("'" + config_path(a.dir) +
                       "' is a DoRA adapter: use --mode dora "
                       "(with --frozen-dtype nf4 for 4-bit storage)");
    mode = config::TrainMode::kDora;
  }
  peft.lora_r = a.r;
  peft.lora_alpha = a.lora_alpha;
  if (!explicitly("lora-dropout")) peft.lora_dropout = a.lora_dropout;
  peft.lora_targets = targets;
  peft.use_rslora = a.use_rslora;
  for (const auto& m : a.modules_to_save) {
    if (m == "gate") peft.train_router = true;
    if (m == "embed_tokens" || m == "lm_head") peft.train_embeddings = true;
  }
}

void check_adapter_file(const std::string& dir, const config::ModelConfig& cfg,
                        const model::BuildOptions& build) {
  const std::string file = weights_path(dir);
  if (!fs::exists(file)) throw UsageError("--adapter: '" + file + "' does not exist");
  std::unique_ptr<io::SafetensorsFile> st;
  try {
    st = std::make_unique<io::SafetensorsFile>(file);
  } catch (const IoError& e) {
    throw UsageError(e.what());
  }
  std::map<std::string, const io::StTensor*> have;
  for (const auto& t : st->view().tensors()) {
    const std::string name = from_peft_name(t.name);
    if (name.empty())
      throw UsageError("'" + file + "': tensor '" + t.name + "' is not a peft tensor name");
    have[name] = &t;
  }
  std::set<std::string> expected;
  for (const auto& s : adapter_layout(cfg, build)) {
    expected.insert(s.name);
    auto it = have.find(s.name);
    if (it == have.end())
      throw UsageError("'" + file + "' lacks '" + to_peft_name(s.name) +
                       "': the adapter was not made for this model and these targets");
    if (it->second->shape != s.shape)
      throw UsageError("'" + file + "': '" + it->second->name + "' has shape " +
                       c10::str(c10::IntArrayRef(it->second->shape)) + ", this model needs " +
                       c10::str(c10::IntArrayRef(s.shape)) + ": the adapter's base model differs");
  }
  for (const auto& [name, t] : have) {
    if (expected.count(name)) continue;
    // modules_to_save: full copies of trained base tensors.
    bool base = false;
    for (const auto& s : model::param_layout(cfg))
      if (s.name == name) {
        base = true;
        if (t->shape != s.shape)
          throw UsageError("'" + file + "': '" + t->name + "' has shape " +
                           c10::str(c10::IntArrayRef(t->shape)) + ", this model needs " +
                           c10::str(c10::IntArrayRef(s.shape)));
      }
    if (!base)
      throw UsageError("'" + file + "': tensor '" + t->name +
                       "' belongs to no adapter of this model (other targets or another base)");
  }
}

void load_adapter(const std::string& dir, model::TransformerImpl& model) {
  const std::string file = weights_path(dir);
  io::SafetensorsFile st(file);
  std::map<std::string, const io::StTensor*> have;
  for (const auto& t : st.view().tensors()) have[from_peft_name(t.name)] = &t;
  for (const auto& e : model.params().entries()) {
    auto it = have.find(e.name);
    if (it == have.end()) {
      if (e.role.is_adapter()) throw IoError("'" + file + "' lacks '" + to_peft_name(e.name) + "'");
      continue;
    }
    auto v = io::to_torch(*it->second, file);
    if (v.sizes().vec() != e.shape())
      throw IoError("'" + file + "': '" + it->second->name + "' has another shape");
    e.assign(v);
  }
}

void write_adapter(const std::string& dir, const io::ModelSource& src,
                   const std::vector<model::ParamSpec>& adapters, const config::PeftConfig& peft,
                   bool dora, const std::string& base_model_name_or_path) {
  const bool moe = src.config().is_moe();
  std::vector<std::string> names;
  for (const auto& s : adapters) names.push_back(s.name);
  std::vector<std::string> to_save;
  if (peft.train_router && moe) {
    to_save.push_back("gate");
    for (int64_t l = 0; l < src.config().num_hidden_layers; ++l)
      names.push_back("layers." + std::to_string(l) + ".block_sparse_moe.gate.weight");
  }
  if (peft.train_embeddings) {
    to_save.push_back("embed_tokens");
    names.push_back("embed_tokens.weight");
    if (!src.config().tie_word_embeddings) {
      to_save.push_back("lm_head");
      names.push_back("lm_head.weight");
    }
  }
  std::vector<std::string> targets;
  for (const auto& t : peft.lora_targets) {
    const std::string h = hf_target(config::canonical_target(t), moe);
    if (std::find(targets.begin(), targets.end(), h) == targets.end()) targets.push_back(h);
  }
  nlohmann::json cfg = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"r", peft.lora_r},
      {"lora_alpha", peft.lora_alpha},
      {"lora_dropout", peft.lora_dropout},
      {"target_modules", targets},
      {"use_dora", dora},
      {"use_rslora", peft.use_rslora},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"init_lora_weights", true},
      {"inference_mode", true},
      {"modules_to_save", to_save.empty() ? nlohmann::json(nullptr) : nlohmann::json(to_save)},
      {"layers_to_transform", nullptr},
      {"layers_pattern", nullptr},
      {"rank_pattern", nlohmann::json::object()},
      {"alpha_pattern", nlohmann::json::object()},
      {"revision", nullptr},
      {"base_model_name_or_path", base_model_name_or_path}};
  write_adapter_files(dir, "adapter_model.safetensors", "adapter_config.json", src, names,
                      to_peft_name, cfg);
}

void write_adapter_files(const std::string& dir, const std::string& weights_file,
                         const std::string& config_file, const io::ModelSource& src,
                         const std::vector<std::string>& names,
                         const std::function<std::string(const std::string&)>& stored_name,
                         const nlohmann::json& config) {
  std::vector<torch::Tensor> keep;  // owns the bytes until the file is written
  std::vector<io::StWriteTensor> out;
  for (const auto& n : names) {
    auto t = src.load(n).contiguous();
    const bool f64 = t.scalar_type() == torch::kFloat64;
    if (!f64) t = t.to(torch::kFloat);
    keep.push_back(t);
    out.push_back({stored_name(n), f64 ? io::StDtype::kF64 : io::StDtype::kF32, t.sizes().vec(),
                   t.data_ptr(), size_t(t.numel()) * t.element_size()});
  }
  fs::create_directories(dir);
  io::write_safetensors((fs::path(dir) / weights_file).string(), out, {{"format", "pt"}});
  const fs::path cfg_path = fs::path(dir) / config_file;
  std::ofstream f(cfg_path);
  f << config.dump(2) << "\n";
  f.close();
  if (!f) throw IoError("cannot write '" + cfg_path.string() + "'");
}

}  // namespace mofe::peft
