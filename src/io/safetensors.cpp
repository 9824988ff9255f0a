#include "mofe/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "mofe/core/atomic_file.h"
#include "mofe/core/error.h"

namespace mofe::io {

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's bound

struct DtypeInfo {
  StDtype dtype;
  const char* name;
  size_t size;
};
constexpr DtypeInfo kDtypes[] = {{StDtype::kBool, "BOOL", 1}, {StDtype::kU8, "U8", 1},
                                 {StDtype::kI8, "I8", 1},     {StDtype::kI16, "I16", 2},
                                 {StDtype::kI32, "I32", 4},   {StDtype::kI64, "I64", 8},
                                 {StDtype::kF16, "F16", 2},   {StDtype::kBF16, "BF16", 2},
                                 {StDtype::kF32, "F32", 4},   {StDtype::kF64, "F64", 8}};

[[noreturn]] void fail(const std::string& label, const std::string& what,
                       const std::string& tensor = "") {
  throw InputError(label + ": " + what + (tensor.empty() ? "" : " (tensor '" + tensor + "')"));
}

// A non-negative integer that fits in 63 bits, or an error.
uint64_t as_index(const nlohmann::json& v, const std::string& label, const std::string& tensor,
                  const char* field) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    fail(label, std::string(field) + " must hold non-negative integers", tensor);
  const uint64_t u = v.get<uint64_t>();
  if (u > uint64_t(INT64_MAX)) fail(label, std::string(field) + " value too large", tensor);
  return u;
}

}  // namespace

size_t dtype_size(StDtype d) {
  for (const auto& i : kDtypes)
    if (i.dtype == d) return i.size;
  return 0;
}

const char* dtype_name(StDtype d) {
  for (const auto& i : kDtypes)
    if (i.dtype == d) return i.name;
  return "?";
}

int64_t StTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

SafetensorsView SafetensorsView::parse(const uint8_t* bytes, size_t size,
                                       const std::string& label) {
  if (size < 8) fail(label, "file of " + std::to_string(size) + " bytes has no 8-byte header");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian on any host
  if (n > kMaxHeader)
    fail(label, "header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > size - 8)
    fail(label, "header length " + std::to_string(n) + " is larger than the file (" +
                    std::to_string(size) + " bytes): truncated?");
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  if (n == 0 || text[0] != '{') fail(label, "header does not start with '{'");

  // Duplicate names are invalid; nlohmann would silently keep the last one, so catch them
  // while parsing (depth 1 = the top-level object's keys).
  std::set<std::string> seen;
  std::string duplicate;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(
        text, text + n, [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& v) {
          if (depth == 1 && ev == nlohmann::json::parse_event_t::key &&
              !seen.insert(v.get<std::string>()).second && duplicate.empty())
            duplicate = v.get<std::string>();
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    fail(label, std::string("header is not valid UTF-8 JSON: ") + e.what());
  }
  if (!duplicate.empty()) fail(label, "duplicate tensor name", duplicate);
  if (!header.is_object()) fail(label, "header is not a JSON object");

  SafetensorsView view;
  const uint8_t* data = bytes + 8 + n;
  const uint64_t data_size = size - 8 - n;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(label, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(label, "__metadata__['" + m.key() + "'] is not a string");
        view.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) fail(label, "entry is not an object", name);
    StTensor t;
    t.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) fail(label, "missing dtype", name);
    const std::string dname = dt->get<std::string>();
    bool known = false;
    for (const auto& i : kDtypes)
      if (dname == i.name) t.dtype = i.dtype, known = true;
    if (!known) fail(label, "unknown dtype '" + dname + "'", name);
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) fail(label, "missing shape", name);
    // Element count with overflow checks: a hostile shape must not wrap around.
    uint64_t elems = 1;
    for (const auto& d : *sh) {
      const uint64_t s = as_index(d, label, name, "shape");
      t.shape.push_back(int64_t(s));
      if (s != 0 && elems > uint64_t(INT64_MAX) / s) fail(label, "shape overflows", name);
      elems *= s;
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2)
      fail(label, "data_offsets must be [begin, end]", name);
    t.begin = as_index((*off)[0], label, name, "data_offsets");
    t.end = as_index((*off)[1], label, name, "data_offsets");
    if (t.end < t.begin) fail(label, "data_offsets end before begin", name);
    if (t.end > data_size)
      fail(label,
           "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
               "] outside the data area of " + std::to_string(data_size) + " bytes",
           name);
    const size_t esz = dtype_size(t.dtype);
    if (elems > uint64_t(INT64_MAX) / esz) fail(label, "shape overflows", name);
    if (elems * esz != t.bytes())
      fail(label,
           "shape x " + dname + " needs " + std::to_string(elems * esz) +
               " bytes but data_offsets give " + std::to_string(t.bytes()),
           name);
    t.data = data + t.begin;
    view.tensors_.push_back(std::move(t));
  }
  // The byte ranges must tile the data area: sorted by begin, each starts where the last ended.
  std::sort(view.tensors_.begin(), view.tensors_.end(), [](const StTensor& a, const StTensor& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const auto& t : view.tensors_) {
    if (t.begin < at) fail(label, "data_offsets overlap another tensor's", t.name);
    if (t.begin > at) fail(label, "gap in the data area before this tensor", t.name);
    at = t.end;
  }
  if (at != data_size)
    fail(label, "tensors cover " + std::to_string(at) + " of the data area's " +
                    std::to_string(data_size) + " bytes");
  for (size_t i = 0; i < view.tensors_.size(); ++i) view.index_[view.tensors_[i].name] = i;
  return view;
}

const StTensor* SafetensorsView::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw InputError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw InputError(path + ": cannot stat");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map_ == MAP_FAILED) {
      map_ = nullptr;
      ::close(fd);
      throw IoError(path + ": cannot map: " + std::strerror(errno));
    }
  }
  ::close(fd);
  try {
    view_ = SafetensorsView::parse(static_cast<const uint8_t*>(map_), size_, path);
  } catch (...) {
    if (map_) ::munmap(map_, size_);
    throw;
  }
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)), map_(o.map_), size_(o.size_), view_(std::move(o.view_)) {
  o.map_ = nullptr;
  o.size_ = 0;
}

void SafetensorsFile::drop_pages(const StTensor& t) const {
  if (!map_ || t.bytes() == 0) return;
  const auto page = uintptr_t(sysconf(_SC_PAGESIZE));
  const auto base = reinterpret_cast<uintptr_t>(map_);
  // Only whole pages inside the tensor: neighbours sharing an edge page keep theirs.
  const uintptr_t first = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(t.data) + t.bytes()) / page * page;
  if (last > first && first >= base && last <= base + size_)
    ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

void write_safetensors(const std::string& path, const std::vector<StWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t at = 0;
  for (const auto& t : tensors) {
    int64_t elems = 1;
    for (int64_t s : t.shape) elems *= s;
    if (size_t(elems) * dtype_size(t.dtype) != t.bytes)
      throw Error("write_safetensors: tensor '" + t.name + "' has " + std::to_string(t.bytes) +
                  " bytes for its shape");
    header[t.name] = {
        {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {at, at + t.bytes}}};
    at += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  core::write_file_atomic(path, [&](std::ostream& out) {
    uint8_t len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), std::streamsize(text.size()));
    for (const auto& t : tensors)
      out.write(static_cast<const char*>(t.data), std::streamsize(t.bytes));
  });
}

}  // namespace mofe::io
