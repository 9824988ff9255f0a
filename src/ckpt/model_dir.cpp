#include "mofe/ckpt/model_dir.h"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

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
      torch::Tensor t = get(s->name).to(torch::kFloat).contiguous();
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
  info_.config = config::ModelConfig::from_json(j.at("config"));
  info_.source_dtype = j.value("source_dtype", "F32");
  info_.provenance = j.value("provenance", nlohmann::json::object());
  checksum_ = j.value("checksum", "");
  for (const auto& s : model::param_layout(info_.config))
    file_of_[s.name] = (fs::path(dir) / file_for(s)).string();
}

std::vector<std::string> ModelDir::names() const {
  std::vector<std::string> out;
  for (const auto& kv : file_of_) out.push_back(kv.first);
  return out;
}

torch::Tensor ModelDir::load(const std::string& name) const {
  auto it = file_of_.find(name);
  if (it == file_of_.end()) throw IoError("model '" + dir_ + "' has no tensor '" + name + "'");
  return read_tensor(it->second, name);
}

}  // namespace mofe::ckpt
