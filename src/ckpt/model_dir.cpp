#include "mofe/ckpt/model_dir.h"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "mofe/ckpt/tensor_file.h"
#include "mofe/core/error.h"
#include "mofe/io/staged_dir.h"
#include "mofe/model/param_layout.h"

namespace mofe::ckpt {

namespace fs = std::filesystem;

std::string expert_file(int64_t layer, int64_t expert) {
  char b[64];
  std::snprintf(b, sizeof b, "experts/layer%02lld_expert%02lld.h5", static_cast<long long>(layer),
                static_cast<long long>(expert));
  return b;
}

namespace {

std::string file_for(const model::ParamSpec& s) {
  return s.expert < 0 ? "dense.h5" : expert_file(s.layer, s.expert);
}

// The model's identity: CRC-32 over every tensor file's index (which holds each tensor's CRC).
std::string checksum_of(const std::string& dir, const std::vector<std::string>& files) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& f : files) {
    const std::string text = f + read_index((fs::path(dir) / f).string()).dump();
    crc = crc32(crc, reinterpret_cast<const Bytef*>(text.data()), uInt(text.size()));
  }
  char b[32];
  std::snprintf(b, sizeof b, "crc32:%08lx", static_cast<unsigned long>(crc));
  return b;
}

}  // namespace

std::string write_model_dir(const std::string& final_dir, const ModelDirInfo& info,
                            const std::function<torch::Tensor(const std::string&)>& get,
                            const dist::Communicator& comm,
                            const std::vector<std::pair<std::string, std::string>>& extra_files) {
  const auto layout = model::param_layout(info.config);
  std::map<std::string, std::vector<const model::ParamSpec*>> by_file;
  for (const auto& s : layout) by_file[file_for(s)].push_back(&s);
  std::vector<std::string> files;
  for (const auto& kv : by_file) files.push_back(kv.first);

  // Every rank writes into one staging directory; rank 0 publishes it when all is there.
  std::string token = comm.rank() == 0 ? io::make_staging_token() : "";
  comm.broadcast(token, 0);
  io::StagedDir staged(final_dir, token, comm.rank() == 0);
  const std::string dir = staged.path();
  if (comm.rank() == 0) fs::create_directories(fs::path(dir) / "experts");
  comm.barrier();
  // dense.h5 on rank 0; expert files round-robin over all ranks.
  int next = 0;
  for (const auto& f : files) {
    const int owner = f == "dense.h5" ? 0 : (next++ % comm.size());
    if (owner != comm.rank()) continue;
    TensorFileWriter w((fs::path(dir) / f).string());
    for (const auto* s : by_file[f]) {
      const std::string d = info.dtype_of ? info.dtype_of(s->name) : "F32";
      const auto type = d == "BF16" ? torch::kBFloat16 : d == "F16" ? torch::kHalf : torch::kFloat;
      torch::Tensor t = get(s->name).to(type).contiguous();
      if (t.sizes().vec() != s->shape)
        throw IoError("'" + dir + "': tensor '" + s->name + "' has shape " + c10::str(t.sizes()) +
                      ", the config implies " + c10::str(c10::IntArrayRef(s->shape)));
      w.add(s->name, t);
    }
    w.finish();
  }
  comm.barrier();
  std::string sum;
  if (comm.rank() == 0) {
    sum = checksum_of(dir, files);
    nlohmann::json j;
    j["format"] = "mofe-model";
    j["version"] = 1;
    j["config"] = info.config.to_json();
    j["source_dtype"] = info.source_dtype;
    j["provenance"] = info.provenance;
    j["checksum"] = sum;
    std::ofstream out(fs::path(dir) / "model.json");
    out << j.dump(2) << "\n";
    out.close();
    if (!out) throw IoError("cannot write '" + dir + "/model.json'");
    for (const auto& [from, name] : extra_files)
      fs::copy_file(from, fs::path(dir) / name, fs::copy_options::overwrite_existing);
    staged.publish();
  }
  comm.broadcast(sum, 0);
  return sum;
}

ModelDir::ModelDir(const std::string& dir) : dir_(dir) {
  const fs::path p = fs::path(dir) / "model.json";
  std::ifstream in(p);
  if (!in) throw InputError("'" + dir + "' has no model.json (not a complete mofe model)");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || j.value("format", "") != "mofe-model")
    throw InputError("'" + p.string() + "' is not a mofe model description");
  try {
    info_.config = config::ModelConfig::from_json(j.at("config"));
  } catch (const UsageError& e) {
    throw UsageError("'" + p.string() + "': " + e.what());
  }
  info_.source_dtype = j.value("source_dtype", "F32");
  info_.provenance = j.value("provenance", nlohmann::json::object());
  checksum_ = j.value("checksum", "");
  for (const auto& s : model::param_layout(info_.config))
    file_of_[s.name] = (fs::path(dir) / file_for(s)).string();
  // The files hold what the config implies: dense.h5 exactly the non-expert tensors, and one
  // file per expert and layer, no more (model.json edited to fewer layers or experts).
  std::set<std::string> dense;
  for (const auto& s : model::param_layout(info_.config))
    if (s.expert < 0) dense.insert(s.name);
  const std::string dense_file = (fs::path(dir) / "dense.h5").string();
  std::set<std::string> stored;
  const nlohmann::json index = read_index(dense_file);
  for (auto it = index.begin(); it != index.end(); ++it) stored.insert(it.key());
  if (stored != dense)
    throw InputError("'" + dense_file + "' does not hold the tensors '" + p.string() +
                     "' describes (" + std::to_string(stored.size()) + " stored, " +
                     std::to_string(dense.size()) + " expected): the config does not match");
  std::set<std::string> expert_files, have;
  for (const auto& kv : file_of_)
    if (kv.second != dense_file) expert_files.insert(fs::path(kv.second).filename().string());
  if (fs::is_directory(fs::path(dir) / "experts"))
    for (const auto& e : fs::directory_iterator(fs::path(dir) / "experts"))
      if (e.path().extension() == ".h5") have.insert(e.path().filename().string());
  for (const auto& f : have)
    if (!expert_files.count(f))
      throw InputError("'" + dir + "/experts/" + f + "' is an expert '" + p.string() +
                       "' does not describe: the config does not match the weights");
  for (const auto& f : expert_files)
    if (!have.count(f)) throw InputError("'" + dir + "' lacks 'experts/" + f + "'");
}

std::vector<std::string> ModelDir::names() const {
  std::vector<std::string> out;
  for (const auto& kv : file_of_) out.push_back(kv.first);
  return out;
}

torch::Tensor ModelDir::load(const std::string& name) const {
  auto it = file_of_.find(name);
  if (it == file_of_.end()) throw IoError("model '" + dir_ + "' has no tensor '" + name + "'");
  auto t = read_tensor(it->second, name);
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);  // ModelSource's contract
}

std::string ModelDir::tensor_dtype(const std::string& name) const {
  auto it = file_of_.find(name);
  if (it == file_of_.end()) return info_.source_dtype;
  auto& index = index_cache_[it->second];
  if (index.is_null()) index = read_index(it->second);
  const std::string d = index.contains(name) ? index[name].value("dtype", "float32") : "float32";
  return d == "bfloat16" ? "BF16" : d == "float16" ? "F16" : d == "float64" ? "F64" : "F32";
}

}  // namespace mofe::ckpt
