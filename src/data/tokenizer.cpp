#include "mofe/data/tokenizer.h"

#include <filesystem>

#include <dlfcn.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "mofe/core/error.h"

namespace mofe::data {

// The C interface of libmofe_spm (src/data/spm_shim.cpp says why SentencePiece is loaded apart).
struct SpmApi {
  using Sink = void (*)(void*, const void*, size_t);
  void* (*load)(const char*, char*, size_t);
  void (*free)(void*);
  int (*encode)(void*, const char*, size_t, Sink, void*, char*, size_t);
  int (*decode)(void*, const int32_t*, size_t, Sink, void*);
  int64_t (*info)(void*, int);
};

namespace {

const SpmApi& spm_api() {
  static const SpmApi api = [] {
    const char* env = std::getenv("MOFE_SPM_LIBRARY");
    const std::string path = env ? env : MOFE_SPM_LIBRARY_PATH;
    int flags = RTLD_NOW | RTLD_LOCAL;
#if !defined(__SANITIZE_ADDRESS__)
    flags |= RTLD_DEEPBIND;  // AddressSanitizer refuses deep binding
#endif
    void* lib = dlopen(path.c_str(), flags);
    if (!lib) throw IoError("cannot load the SentencePiece shim '" + path + "': " + dlerror());
    auto sym = [&](const char* name) {
      void* f = dlsym(lib, name);
      if (!f) throw IoError("SentencePiece shim '" + path + "' lacks " + name);
      return f;
    };
    SpmApi a;
    a.load = reinterpret_cast<decltype(a.load)>(sym("mofe_spm_load"));
    a.free = reinterpret_cast<decltype(a.free)>(sym("mofe_spm_free"));
    a.encode = reinterpret_cast<decltype(a.encode)>(sym("mofe_spm_encode"));
    a.decode = reinterpret_cast<decltype(a.decode)>(sym("mofe_spm_decode"));
    a.info = reinterpret_cast<decltype(a.info)>(sym("mofe_spm_info"));
    return a;
  }();
  return api;
}

}  // namespace

std::string file_checksum(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw InputError("'" + path + "' is not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read '" + path + "'");
  uLong crc = crc32(0L, Z_NULL, 0);
  int64_t size = 0;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), buf.size());
    const auto n = in.gcount();
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(n));
    size += n;
  }
  char out[64];
  std::snprintf(out, sizeof out, "crc32:%08lx:%lld", crc, static_cast<long long>(size));
  return out;
}

Tokenizer::Tokenizer(const std::string& model_path) : api_(&spm_api()), path_(model_path) {
  // SentencePiece reads a directory as an empty stream and fails deep inside protobuf.
  if (!std::filesystem::is_regular_file(model_path))
    throw InputError("tokenizer '" + model_path + "' is not a file");
  char err[512] = {0};
  handle_ = api_->load(model_path.c_str(), err, sizeof err);
  if (!handle_)
    throw InputError("tokenizer '" + model_path + "': cannot load SentencePiece model: " + err);
  checksum_ = file_checksum(model_path);
}

Tokenizer::~Tokenizer() {
  if (handle_) api_->free(handle_);
}

Tokenizer::Tokenizer(Tokenizer&& o) noexcept
    : api_(o.api_),
      handle_(o.handle_),
      path_(std::move(o.path_)),
      checksum_(std::move(o.checksum_)) {
  o.handle_ = nullptr;
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  char err[512] = {0};
  auto sink = [](void* ctx, const void* data, size_t n) {
    auto* out = static_cast<std::vector<int32_t>*>(ctx);
    const auto* p = static_cast<const int32_t*>(data);
    out->assign(p, p + n);
  };
  if (api_->encode(handle_, text.data(), text.size(), sink, &ids, err, sizeof err) != 0)
    throw IoError("tokenizer '" + path_ + "': cannot encode text: " + err);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  auto sink = [](void* ctx, const void* data, size_t n) {
    static_cast<std::string*>(ctx)->assign(static_cast<const char*>(data), n);
  };
  api_->decode(handle_, ids.data(), ids.size(), sink, &text);
  return text;
}

int32_t Tokenizer::bos_id() const { return static_cast<int32_t>(api_->info(handle_, 0)); }
int32_t Tokenizer::eos_id() const { return static_cast<int32_t>(api_->info(handle_, 1)); }
int32_t Tokenizer::pad_id() const {
  const auto pad = api_->info(handle_, 2);
  return static_cast<int32_t>(pad >= 0 ? pad : api_->info(handle_, 1));
}
int64_t Tokenizer::vocab_size() const { return api_->info(handle_, 4); }

}  // namespace mofe::data
