#include "mofe/io/hf_model.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "mofe/core/error.h"
#include "mofe/io/hf_names.h"
#include "mofe/model/param_layout.h"

namespace mofe::io {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw InputError("cannot open '" + p.string() + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError("'" + p.string() + "' is not valid JSON: " + e.what());
  }
}

// Rejects what mofe's Llama/Mixtral does not compute, rather than loading it wrongly.
void check_supported(const nlohmann::json& c, const std::string& file) {
  std::string arch;
  if (auto a = c.find("architectures"); a != c.end() && a->is_array() && !a->empty())
    arch = (*a)[0].get<std::string>();
  if (arch != "LlamaForCausalLM" && arch != "MixtralForCausalLM")
    throw UsageError("'" + file + "': architecture '" + arch +
                     "' is not supported (LlamaForCausalLM or MixtralForCausalLM)");
  if (c.value("hidden_act", std::string("silu")) != "silu")
    throw UsageError("'" + file + "': hidden_act must be silu");
  if (c.contains("rope_scaling") && !c["rope_scaling"].is_null())
    throw UsageError("'" + file + "': rope_scaling is not supported");
  if (c.value("attention_bias", false) || c.value("mlp_bias", false))
    throw UsageError("'" + file + "': attention/MLP biases are not supported");
}

StDtype export_dtype(const std::string& d) {
  if (d == "bfloat16") return StDtype::kBF16;
  if (d == "float16") return StDtype::kF16;
  if (d == "float32") return StDtype::kF32;
  throw UsageError("--dtype: unknown dtype '" + d + "' (bfloat16, float16 or float32)");
}

torch::ScalarType torch_dtype(StDtype d) {
  return d == StDtype::kBF16 ? torch::kBFloat16 : d == StDtype::kF16 ? torch::kHalf : torch::kFloat;
}

}  // namespace

bool is_hf_dir(const std::string& dir) {
  if (!fs::exists(fs::path(dir) / "config.json")) return false;
  if (!fs::is_directory(dir)) return false;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") return true;
  return false;
}

torch::Tensor to_torch(const StTensor& t, const std::string& file) {
  auto* p = const_cast<uint8_t*>(t.data);  // from_blob wants void*; never written through
  switch (t.dtype) {
    case StDtype::kF32:
      return torch::from_blob(p, t.shape, torch::kFloat).clone();
    case StDtype::kF64:
      return torch::from_blob(p, t.shape, torch::kDouble).clone();
    case StDtype::kBF16:
      return torch::from_blob(p, t.shape, torch::kBFloat16).to(torch::kFloat);
    case StDtype::kF16:
      return torch::from_blob(p, t.shape, torch::kHalf).to(torch::kFloat);
    default:
      throw InputError("'" + file + "': tensor '" + t.name + "' has dtype " + dtype_name(t.dtype) +
                       ", not a floating-point weight");
  }
}

HfModel::HfModel(const std::string& dir) : dir_(dir) {
  const fs::path root(dir);
  const nlohmann::json raw_config = read_json(root / "config.json");
  check_supported(raw_config, (root / "config.json").string());
  try {
    config_ = config::ModelConfig::from_json(raw_config);
  } catch (const UsageError& e) {
    throw UsageError("'" + (root / "config.json").string() + "': " + e.what());
  }

  std::vector<std::string> files;
  if (fs::exists(root / "model.safetensors.index.json")) {
    const auto index = read_json(root / "model.safetensors.index.json");
    std::set<std::string> unique;
    for (const auto& [name, file] : index.at("weight_map").items()) unique.insert(file);
    files.assign(unique.begin(), unique.end());
  } else {
    for (const auto& e : fs::directory_iterator(root))
      if (e.path().extension() == ".safetensors") files.push_back(e.path().filename().string());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) throw InputError("'" + dir + "' holds no .safetensors file");
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& f : files) {
    files_.emplace_back((root / f).string());
    const size_t k = files_.size() - 1;
    for (const auto& t : files_.back().view().tensors()) {
      if (split_fused(t, k)) continue;
      const std::string name = from_hf_name(t.name);
      if (name.empty()) continue;
      if (where_.count(name))
        throw InputError("'" + dir + "': tensor '" + t.name + "' appears in two files");
      where_[name] = {k, &t};
      const std::string id = t.name + dtype_name(t.dtype) + std::to_string(t.bytes());
      crc = crc32(crc, reinterpret_cast<const Bytef*>(id.data()), uInt(id.size()));
      // The first and last bytes of each tensor too: a cheap content fingerprint.
      if (t.bytes() > 0) crc = crc32(crc, t.data, uInt(std::min<size_t>(t.bytes(), 64)));
    }
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "crc32:%08lx", static_cast<unsigned long>(crc));
  checksum_ = buf;
  auto emb = where_.find("embed_tokens.weight");
  if (emb == where_.end()) throw InputError("'" + dir + "' has no model.embed_tokens.weight");
  dtype_ = dtype_name(emb->second.second->dtype);
  // Exactly the parameters the config implies: none missing, none more (a config that says
  // fewer layers, heads or experts than the weights hold would drop some silently).
  std::set<std::string> expected;
  for (const auto& spec : model::param_layout(config_)) expected.insert(spec.name);
  for (const auto& [name, where] : where_)
    if (!expected.count(name))
      throw InputError("'" + files_[where.first].path() + "': tensor '" + to_hf_name(name) +
                       "' is not part of the model '" + (root / "config.json").string() +
                       "' describes: the config does not match the weights");
  for (const auto& spec : model::param_layout(config_)) {
    auto it = where_.find(spec.name);
    if (it == where_.end())
      throw InputError("'" + dir + "' lacks tensor '" + to_hf_name(spec.name) + "'");
    if (it->second.second->shape != spec.shape)
      throw InputError("'" + files_[it->second.first].path() + "': tensor '" +
                       to_hf_name(spec.name) + "' has shape " +
                       c10::str(c10::IntArrayRef(it->second.second->shape)) +
                       ", config.json implies " + c10::str(c10::IntArrayRef(spec.shape)));
  }
}

std::string HfModel::tensor_dtype(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? dtype_ : dtype_name(it->second.second->dtype);
}

// The fused layout (newer transformers): mlp.experts.gate_up_proj [E, 2I, D] (gate rows then
// up rows) and mlp.experts.down_proj [E, D, I]. Each expert's matrix is a contiguous byte range
// of the stacked tensor, so it becomes a view of the mapped file: no copy, no conversion of
// the whole stack per expert.
bool HfModel::split_fused(const StTensor& t, size_t file) {
  static const std::string kMid = ".mlp.experts.";
  const auto pos = t.name.find(kMid);
  if (t.name.rfind("model.layers.", 0) != 0 || pos == std::string::npos) return false;
  const std::string what = t.name.substr(pos + kMid.size());
  if (what != "gate_up_proj" && what != "down_proj") return false;
  if (t.shape.size() != 3)
    throw InputError("'" + files_[file].path() + "': tensor '" + t.name +
                     "' is not [E, rows, cols]");
  const std::string layer = t.name.substr(13, pos - 13);
  const int64_t E = t.shape[0], rows = t.shape[1], cols = t.shape[2];
  const size_t esz = dtype_size(t.dtype);
  auto add = [&](int64_t e, const std::string& leaf, int64_t row0, int64_t nrows) {
    StTensor v = t;
    v.shape = {nrows, cols};
    v.data = t.data + size_t((e * rows + row0) * cols) * esz;
    v.begin = t.begin + uint64_t(size_t((e * rows + row0) * cols) * esz);
    v.end = v.begin + uint64_t(size_t(nrows * cols) * esz);
    v.name = t.name + "[" + std::to_string(e) + "]." + leaf;
    virtual_.push_back(v);
    where_["layers." + layer + ".block_sparse_moe.experts." + std::to_string(e) + "." + leaf +
           ".weight"] = {file, &virtual_.back()};
  };
  for (int64_t e = 0; e < E; ++e) {
    if (what == "gate_up_proj") {
      add(e, "gate_proj", 0, rows / 2);
      add(e, "up_proj", rows / 2, rows / 2);
    } else {
      add(e, "down_proj", 0, rows);
    }
  }
  return true;
}

std::vector<std::string> HfModel::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

torch::Tensor HfModel::load(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw IoError("'" + dir_ + "' has no tensor '" + to_hf_name(name) + "'");
  const auto& file = files_[it->second.first];
  auto t = to_torch(*it->second.second, file.path());
  file.drop_pages(*it->second.second);
  return t;
}

int64_t write_hf_model(const ModelSource& source, const std::string& dir,
                       const HfExportOptions& opt) {
  if (opt.layout != "mixtral" && opt.layout != "fused")
    throw UsageError("--hf-layout: unknown layout '" + opt.layout + "' (mixtral or fused)");
  // --dtype auto: each tensor as the source stores it (a model may mix F16 and F32).
  const bool per_tensor = opt.dtype == "auto";
  const StDtype dtype = export_dtype(per_tensor ? "float32" : opt.dtype);
  auto dtype_for = [&](const std::string& mofe_name) {
    if (!per_tensor) return dtype;
    const std::string d = source.tensor_dtype(mofe_name);
    return d == "BF16" ? StDtype::kBF16 : d == "F16" ? StDtype::kF16 : StDtype::kF32;
  };
  const auto& cfg = source.config();
  const bool fused = opt.layout == "fused" && cfg.is_moe();

  // One output tensor = a name and how to build it from the source.
  struct Out {
    std::string name;
    std::function<torch::Tensor()> make;
    int64_t bytes;
    StDtype dtype;
  };
  std::vector<Out> outs;
  for (const auto& spec : model::param_layout(cfg)) {
    int64_t numel = 1;
    for (int64_t s : spec.shape) numel *= s;
    const StDtype d = dtype_for(spec.name);
    const size_t esz = dtype_size(d);
    if (!fused ||
        (spec.expert < 0 && spec.name.find(".block_sparse_moe.gate.") == std::string::npos)) {
      outs.push_back({to_hf_name(spec.name), [&source, n = spec.name] { return source.load(n); },
                      int64_t(numel * esz), d});
      continue;
    }
    const std::string p = "model.layers." + std::to_string(spec.layer) + ".mlp.";
    const std::string q = "layers." + std::to_string(spec.layer) + ".block_sparse_moe.";
    if (spec.expert < 0) {  // the router
      outs.push_back({p + "gate.weight", [&source, n = spec.name] { return source.load(n); },
                      int64_t(numel * esz), d});
    } else if (spec.expert == 0 && spec.name.find(".gate_proj.") != std::string::npos) {
      // Once per layer: [E, 2I, D] (gate rows then up rows) and [E, D, I].
      const int64_t E = cfg.num_local_experts, I = cfg.intermediate_size, D = cfg.hidden_size;
      outs.push_back({p + "experts.gate_up_proj",
                      [&source, q, E] {
                        std::vector<torch::Tensor> v;
                        for (int64_t e = 0; e < E; ++e) {
                          const std::string x = q + "experts." + std::to_string(e) + ".";
                          v.push_back(torch::cat({source.load(x + "gate_proj.weight"),
                                                  source.load(x + "up_proj.weight")}));
                        }
                        return torch::stack(v);
                      },
                      int64_t(E * 2 * I * D * esz), d});
      outs.push_back(
          {p + "experts.down_proj",
           [&source, q, E] {
             std::vector<torch::Tensor> v;
             for (int64_t e = 0; e < E; ++e)
               v.push_back(source.load(q + "experts." + std::to_string(e) + ".down_proj.weight"));
             return torch::stack(v);
           },
           int64_t(E * D * I * esz), d});
    }
  }

  // Shards planned from sizes first, so each file knows its "-of-N" name.
  std::vector<std::vector<size_t>> shards(1);
  int64_t in_shard = 0, total = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (in_shard > 0 && in_shard + outs[i].bytes > opt.shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(i);
    in_shard += outs[i].bytes;
    total += outs[i].bytes;
  }
  fs::create_directories(dir);
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    char fname[64];
    std::snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    std::vector<torch::Tensor> keep;
    std::vector<StWriteTensor> tensors;
    for (size_t i : shards[s]) {
      auto t = outs[i].make().to(torch_dtype(outs[i].dtype)).contiguous();
      keep.push_back(t);
      tensors.push_back({outs[i].name, outs[i].dtype, t.sizes().vec(), t.data_ptr(),
                         size_t(t.numel()) * t.element_size()});
      weight_map[outs[i].name] = fname;
    }
    write_safetensors((fs::path(dir) / fname).string(), tensors, {{"format", "pt"}});
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total}};
  index["weight_map"] = weight_map;
  std::ofstream(fs::path(dir) / "model.safetensors.index.json") << index.dump(2) << "\n";

  nlohmann::json c = cfg.to_json();
  const std::string sd = source.source_dtype();
  c["torch_dtype"] = per_tensor ? (sd == "BF16"  ? "bfloat16"
                                   : sd == "F16" ? "float16"
                                                 : "float32")
                                : opt.dtype;
  c["attention_bias"] = false;
  c["attention_dropout"] = 0.0;
  c["initializer_range"] = 0.02;
  c["use_cache"] = true;
  if (cfg.is_moe()) {
    c["sliding_window"] = nullptr;
    c["output_router_logits"] = false;
  }
  std::ofstream(fs::path(dir) / "config.json") << c.dump(2) << "\n";
  return int64_t(outs.size());
}

}  // namespace mofe::io
