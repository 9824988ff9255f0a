// Safetensors: the Hugging Face weight format, read and written by mofe itself.
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data area]
//   header: {"__metadata__": {str: str}, "<tensor>": {"dtype": "F32", "shape": [..],
//            "data_offsets": [begin, end]}, ...}, offsets relative to the data area.
// Why not a library: Debian 12 packages none for C++; the format is small and the checks are
// what matters. The parser checks what the reference (Rust) implementation checks and names
// the file and tensor on each failure: header length bounded (100 MB) and inside the file,
// valid UTF-8 JSON object, no duplicate names, known dtypes, shape x dtype size = byte range,
// offsets non-overlapping, without gaps, covering the data area exactly. It never reads
// outside the buffer it was given, whatever the input (tests/fuzz/fuzz_safetensors.cpp).
// Torch-free on purpose, so the fuzz target builds from this file alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mofe::io {

enum class StDtype { kBool, kU8, kI8, kI16, kI32, kI64, kF16, kBF16, kF32, kF64 };

size_t dtype_size(StDtype d);
const char* dtype_name(StDtype d);

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;    // byte range inside the data area
  const uint8_t* data = nullptr;  // = data area + begin (not owned)
  size_t bytes() const { return end - begin; }
  int64_t numel() const;
};

// A parsed view of an in-memory safetensors image; does not own the bytes.
class SafetensorsView {
 public:
  // Throws IoError "<label>: <what> [tensor '<name>']" on any violation.
  static SafetensorsView parse(const uint8_t* bytes, size_t size, const std::string& label);

  const std::vector<StTensor>& tensors() const { return tensors_; }  // in data order
  const StTensor* find(const std::string& name) const;               // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::vector<StTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A safetensors file, memory-mapped read-only: tensor bytes are not copied until used.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) = delete;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const SafetensorsView& view() const { return view_; }
  const std::string& path() const { return path_; }
  // Hands the pages of a tensor already copied back to the kernel (they are re-read from the
  // file if used again), so reading a model does not keep the whole file resident.
  void drop_pages(const StTensor& t) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  SafetensorsView view_;
};

struct StWriteTensor {
  std::string name;
  StDtype dtype = StDtype::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

// Writes tensors in the given order (header padded with spaces to 8 bytes, as the reference
// writer does, so the data area stays aligned). Writes to path.tmp, then renames.
void write_safetensors(const std::string& path, const std::vector<StWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace mofe::io
