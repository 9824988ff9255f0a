// libmofe_spm: a C interface over SentencePiece, loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND)
// by data/tokenizer.cpp.
//
// Why a separate library: Debian's libsentencepiece carries its own copy of protobuf 3.14 and
// exports its symbols, while LibTorch loads the system protobuf 3.21. Linked into one process
// they resolve each other's symbols and abort at start-up ("compiled against version 3.14.0 ...
// not compatible with 3.21.12"). Loaded locally with deep binding, SentencePiece keeps to its
// own protobuf and LibTorch never sees it.
#include <sentencepiece_processor.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {
void set_error(char* err, size_t len, const std::string& msg) {
  if (err && len) {
    std::strncpy(err, msg.c_str(), len - 1);
    err[len - 1] = '\0';
  }
}
}  // namespace

extern "C" {

using mofe_spm_sink = void (*)(void* ctx, const void* data, size_t n);

void* mofe_spm_load(const char* path, char* err, size_t err_len) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto status = sp->Load(path);
  if (!status.ok()) {
    set_error(err, err_len, status.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

void mofe_spm_free(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

// Ids as int32 through `sink`; returns 0 on success.
int mofe_spm_encode(void* handle, const char* text, size_t len, mofe_spm_sink sink, void* ctx,
                    char* err, size_t err_len) {
  std::vector<int> ids;
  const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(
      std::string(text, len), &ids);
  if (!status.ok()) {
    set_error(err, err_len, status.ToString());
    return 1;
  }
  std::vector<int32_t> out(ids.begin(), ids.end());
  sink(ctx, out.data(), out.size());
  return 0;
}

// Text bytes through `sink`.
int mofe_spm_decode(void* handle, const int32_t* ids, size_t n, mofe_spm_sink sink, void* ctx) {
  std::string text;
  static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Decode(
      std::vector<int>(ids, ids + n), &text);
  sink(ctx, text.data(), text.size());
  return 0;
}

// 0: bos, 1: eos, 2: pad, 3: unk, 4: vocabulary size.
int64_t mofe_spm_info(void* handle, int what) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  switch (what) {
    case 0:
      return sp->bos_id();
    case 1:
      return sp->eos_id();
    case 2:
      return sp->pad_id();
    case 3:
      return sp->unk_id();
    default:
      return sp->GetPieceSize();
  }
}
}
