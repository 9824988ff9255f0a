// Thin RAII handles over the HDF5 C API (files, datasets, dataspaces, property lists) and the
// few typed read/write helpers the shards and checkpoints need. Every failing call throws
// IoError naming the file and object. HDF5's automatic error stack printing is switched off.
//
// HDF5 is not thread-safe in Debian's build: every call made from more than one thread (the
// loader's prefetch thread and the main thread) must hold h5_mutex().
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace mofe::io {

std::mutex& h5_mutex();

// An owned hid_t closed with the matching H5*close on destruction.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle();
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// An open 1-D dataset kept for repeated reads: its chunk cache survives between reads, so
// random access to nearby samples does not decompress the same chunk again and again.
class H5Dataset {
 public:
  H5Dataset(H5Handle ds, std::string path, std::string name)
      : ds_(std::move(ds)), path_(std::move(path)), name_(std::move(name)) {}
  std::vector<int32_t> read_int32(int64_t offset, int64_t count) const;
  std::vector<uint8_t> read_uint8(int64_t offset, int64_t count) const;
  // [offset, offset + count) converted to `type`; count < 0 reads to the end.
  template <typename T>
  std::vector<T> read(hid_t type, int64_t offset, int64_t count) const;

 private:
  H5Handle ds_;
  std::string path_, name_;
};

// How a 1-D dataset is stored. Weights barely compress (random-looking mantissas) and deflate
// costs ~50 MB/s per core, so tensor files take kChecksummed; token shards compress well.
enum class Storage {
  kContiguous,   // plain
  kChecksummed,  // chunked + Fletcher-32 per chunk, verified on every read
  kCompressed,   // chunked + Fletcher-32 + shuffle + deflate
};

class H5File {
 public:
  static H5File create(const std::string& path);  // truncates
  static H5File open_read(const std::string& path);
  const std::string& path() const { return path_; }
  hid_t id() const { return file_.id(); }
  void flush();

  // 1-D datasets; `compress` = Storage::kCompressed, else kContiguous.
  void write_int32(const std::string& name, const std::vector<int32_t>& v, bool compress);
  void write_int64(const std::string& name, const std::vector<int64_t>& v, bool compress);
  void write_uint8(const std::string& name, const std::vector<uint8_t>& v, bool compress);
  void write_float32(const std::string& name, const std::vector<float>& v, bool compress);
  void write_float64(const std::string& name, const std::vector<double>& v, bool compress);
  void write_float32(const std::string& name, const std::vector<float>& v, Storage storage);
  void write_float64(const std::string& name, const std::vector<double>& v, Storage storage);
  // 16-bit floats (bfloat16, float16) as their raw bits.
  void write_uint16(const std::string& name, const std::vector<uint16_t>& v, Storage storage);
  std::vector<uint16_t> read_uint16(const std::string& name) const;
  std::vector<float> read_float32(const std::string& name) const;
  std::vector<double> read_float64(const std::string& name) const;
  std::vector<int32_t> read_int32(const std::string& name, int64_t offset = 0,
                                  int64_t count = -1) const;
  std::vector<int64_t> read_int64(const std::string& name, int64_t offset = 0,
                                  int64_t count = -1) const;
  std::vector<uint8_t> read_uint8(const std::string& name, int64_t offset = 0,
                                  int64_t count = -1) const;
  int64_t length(const std::string& name) const;  // elements of a 1-D dataset
  H5Dataset open_dataset(const std::string& name) const;
  bool has(const std::string& name) const;

  // Scalar attributes on the root group.
  void set_attr(const std::string& name, int64_t value);
  void set_attr(const std::string& name, const std::string& value);
  int64_t attr_int(const std::string& name) const;
  std::string attr_string(const std::string& name) const;

 private:
  H5File(H5Handle file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}
  template <typename T>
  void write_1d(const std::string& name, const std::vector<T>& v, hid_t type, Storage storage);
  template <typename T>
  std::vector<T> read_1d(const std::string& name, hid_t type, int64_t offset, int64_t count) const;
  H5Handle file_;
  std::string path_;
};

}  // namespace mofe::io
