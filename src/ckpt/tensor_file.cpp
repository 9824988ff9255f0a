#include "mofe/ckpt/tensor_file.h"

#include <zlib.h>

#include <nlohmann/json.hpp>

#include "mofe/core/error.h"
#include "mofe/io/h5.h"

namespace mofe::ckpt {

namespace {
std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return "float32";
    case torch::kDouble:
      return "float64";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kHalf:
      return "float16";
    default:
      return c10::toString(t);
  }
}

uint32_t crc_of(const torch::Tensor& t) {
  return static_cast<uint32_t>(crc32(0L, static_cast<const Bytef*>(t.data_ptr()),
                                     static_cast<uInt>(t.numel() * t.element_size())));
}
}  // namespace

struct TensorFileWriter::Impl {
  std::string path;
  io::H5File file;
  nlohmann::json index = nlohmann::json::object();
};

TensorFileWriter::TensorFileWriter(const std::string& path) {
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  impl_.reset(new Impl{path, io::H5File::create(path)});
}

TensorFileWriter::~TensorFileWriter() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  impl_.reset();  // closes the file (unfinished: no index, so readers reject it)
}

void TensorFileWriter::add(const std::string& name, const torch::Tensor& tensor) {
  auto t = tensor.detach().cpu().contiguous();
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  auto& f = impl_->file;
  if (t.scalar_type() == torch::kFloat) {
    f.write_float32(name, std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel()),
                    io::Storage::kChecksummed);
  } else if (t.scalar_type() == torch::kDouble) {
    f.write_float64(name,
                    std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel()),
                    io::Storage::kChecksummed);
  } else if (t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kHalf) {
    const auto* bits = static_cast<const uint16_t*>(t.data_ptr());
    f.write_uint16(name, std::vector<uint16_t>(bits, bits + t.numel()), io::Storage::kChecksummed);
  } else {
    throw IoError("'" + impl_->path + "': tensor '" + name + "' has unsupported dtype");
  }
  impl_->index[name] = {
      {"shape", t.sizes().vec()}, {"dtype", dtype_name(t.scalar_type())}, {"crc32", crc_of(t)}};
}

void TensorFileWriter::finish() {
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  const std::string text = impl_->index.dump();
  auto& f = impl_->file;
  f.write_uint8("index", std::vector<uint8_t>(text.begin(), text.end()), true);
  f.set_attr("mofe_format", std::string("mofe-checkpoint"));
  f.flush();
  impl_.reset();
}

void write_tensors(const std::string& path, const NamedTensors& tensors) {
  TensorFileWriter w(path);
  for (const auto& [name, tensor] : tensors) w.add(name, tensor);
  w.finish();
}

namespace {
nlohmann::json index_of(const io::H5File& f, const std::string& path) {
  const auto bytes = f.read_uint8("index");
  try {
    return nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
  } catch (const nlohmann::json::exception& e) {
    throw InputError("'" + path + "': damaged index: " + e.what());
  }
}

torch::Tensor read_one(const io::H5File& f, const std::string& path, const std::string& name,
                       const nlohmann::json& entry) {
  const auto shape = entry.at("shape").get<std::vector<int64_t>>();
  torch::Tensor t;
  const std::string dtype = entry.at("dtype");
  if (dtype == "float32") {
    auto v = f.read_float32(name);
    t = torch::from_blob(v.data(), {int64_t(v.size())}, torch::kFloat).clone();
  } else if (dtype == "float64") {
    auto v = f.read_float64(name);
    t = torch::from_blob(v.data(), {int64_t(v.size())}, torch::kDouble).clone();
  } else if (dtype == "bfloat16" || dtype == "float16") {
    auto v = f.read_uint16(name);
    t = torch::from_blob(v.data(), {int64_t(v.size())},
                         dtype == "bfloat16" ? torch::kBFloat16 : torch::kHalf)
            .clone();
  } else {
    throw InputError("'" + path + "': tensor '" + name + "' has unknown dtype '" + dtype + "'");
  }
  if (crc_of(t) != entry.at("crc32").get<uint32_t>())
    throw InputError("'" + path + "': tensor '" + name + "' fails its CRC-32 check");
  return t.view(shape);
}
}  // namespace

std::map<std::string, torch::Tensor> read_tensors(const std::string& path) {
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  auto f = io::H5File::open_read(path);
  const auto index = index_of(f, path);
  std::map<std::string, torch::Tensor> out;
  for (auto it = index.begin(); it != index.end(); ++it)
    out[it.key()] = read_one(f, path, it.key(), it.value());
  return out;
}

nlohmann::json read_index(const std::string& path) {
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  auto f = io::H5File::open_read(path);
  return index_of(f, path);
}

torch::Tensor read_tensor(const std::string& path, const std::string& name) {
  std::lock_guard<std::mutex> lock(io::h5_mutex());
  auto f = io::H5File::open_read(path);
  const auto index = index_of(f, path);
  auto it = index.find(name);
  if (it == index.end()) throw InputError("'" + path + "' has no tensor '" + name + "'");
  return read_one(f, path, name, *it);
}

}  // namespace mofe::ckpt
