#include "mofe/io/h5.h"

#include <algorithm>

#include "mofe/core/error.h"

namespace mofe::io {

namespace {

// Switch off HDF5's error-stack printing once: failures become IoError with our own message.
void quiet_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IoError("HDF5 file '" + path + "': " + what);
}

}  // namespace

std::mutex& h5_mutex() {
  static std::mutex m;
  return m;
}

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = -1;
  }
  return *this;
}

H5Handle::~H5Handle() {
  if (id_ >= 0 && closer_) closer_(id_);
}

H5File H5File::create(const std::string& path) {
  quiet_hdf5();
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) fail(path, "cannot create");
  return H5File(H5Handle(f, H5Fclose), path);
}

H5File H5File::open_read(const std::string& path) {
  quiet_hdf5();
  if (H5Fis_hdf5(path.c_str()) <= 0)  // H5Fis_accessible needs HDF5 1.12; Debian 12 has 1.10
    fail(path, "missing, truncated or not an HDF5 file");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) fail(path, "cannot open (truncated or corrupt?)");
  return H5File(H5Handle(f, H5Fclose), path);
}

void H5File::flush() {
  if (H5Fflush(id(), H5F_SCOPE_GLOBAL) < 0) fail(path_, "flush failed");
}

template <typename T>
void H5File::write_1d(const std::string& name, const std::vector<T>& v, hid_t type,
                      Storage storage) {
  const hsize_t n = v.size();
  H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  H5Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (storage == Storage::kCompressed && n > 0) {
    const hsize_t chunk = std::min<hsize_t>(n, 1 << 14);  // small enough for random sample reads
    H5Pset_chunk(plist.id(), 1, &chunk);
    H5Pset_fletcher32(plist.id());  // per-chunk checksum, verified on every read
    H5Pset_shuffle(plist.id());
    H5Pset_deflate(plist.id(), 4);
  } else if (storage == Storage::kChecksummed && n > 0) {
    const hsize_t chunk = std::min<hsize_t>(n, 1 << 20);  // whole tensors are read: big chunks
    H5Pset_chunk(plist.id(), 1, &chunk);
    H5Pset_fletcher32(plist.id());
  }
  H5Handle ds(
      H5Dcreate2(id(), name.c_str(), type, space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT),
      H5Dclose);
  if (!ds.valid()) fail(path_, "cannot create dataset '" + name + "'");
  if (n > 0 && H5Dwrite(ds.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    fail(path_, "cannot write dataset '" + name + "'");
}

template <typename T>
std::vector<T> H5File::read_1d(const std::string& name, hid_t type, int64_t offset,
                               int64_t count) const {
  return open_dataset(name).read<T>(type, offset, count);
}

void H5File::write_float32(const std::string& n, const std::vector<float>& v, bool c) {
  write_1d(n, v, H5T_NATIVE_FLOAT, c ? Storage::kCompressed : Storage::kContiguous);
}
void H5File::write_float64(const std::string& n, const std::vector<double>& v, bool c) {
  write_1d(n, v, H5T_NATIVE_DOUBLE, c ? Storage::kCompressed : Storage::kContiguous);
}
void H5File::write_float32(const std::string& n, const std::vector<float>& v, Storage s) {
  write_1d(n, v, H5T_NATIVE_FLOAT, s);
}
void H5File::write_float64(const std::string& n, const std::vector<double>& v, Storage s) {
  write_1d(n, v, H5T_NATIVE_DOUBLE, s);
}
void H5File::write_uint16(const std::string& n, const std::vector<uint16_t>& v, Storage s) {
  write_1d(n, v, H5T_NATIVE_UINT16, s);
}
std::vector<uint16_t> H5File::read_uint16(const std::string& n) const {
  return read_1d<uint16_t>(n, H5T_NATIVE_UINT16, 0, -1);
}
std::vector<float> H5File::read_float32(const std::string& n) const {
  return read_1d<float>(n, H5T_NATIVE_FLOAT, 0, -1);
}
std::vector<double> H5File::read_float64(const std::string& n) const {
  return read_1d<double>(n, H5T_NATIVE_DOUBLE, 0, -1);
}
void H5File::write_int32(const std::string& n, const std::vector<int32_t>& v, bool c) {
  write_1d(n, v, H5T_NATIVE_INT32, c ? Storage::kCompressed : Storage::kContiguous);
}
void H5File::write_int64(const std::string& n, const std::vector<int64_t>& v, bool c) {
  write_1d(n, v, H5T_NATIVE_INT64, c ? Storage::kCompressed : Storage::kContiguous);
}
void H5File::write_uint8(const std::string& n, const std::vector<uint8_t>& v, bool c) {
  write_1d(n, v, H5T_NATIVE_UINT8, c ? Storage::kCompressed : Storage::kContiguous);
}
std::vector<int32_t> H5File::read_int32(const std::string& n, int64_t o, int64_t c) const {
  return read_1d<int32_t>(n, H5T_NATIVE_INT32, o, c);
}
std::vector<int64_t> H5File::read_int64(const std::string& n, int64_t o, int64_t c) const {
  return read_1d<int64_t>(n, H5T_NATIVE_INT64, o, c);
}
std::vector<uint8_t> H5File::read_uint8(const std::string& n, int64_t o, int64_t c) const {
  return read_1d<uint8_t>(n, H5T_NATIVE_UINT8, o, c);
}

H5Dataset H5File::open_dataset(const std::string& name) const {
  H5Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) fail(path_, "missing dataset '" + name + "'");
  return H5Dataset(std::move(ds), path_, name);
}

template <typename T>
std::vector<T> H5Dataset::read(hid_t type, int64_t offset, int64_t count) const {
  H5Handle space(H5Dget_space(ds_.id()), H5Sclose);
  hsize_t n = 0;
  if (H5Sget_simple_extent_ndims(space.id()) != 1)
    fail(path_, "dataset '" + name_ + "' is not 1-D");
  H5Sget_simple_extent_dims(space.id(), &n, nullptr);
  if (count < 0) count = static_cast<int64_t>(n) - offset;
  if (offset < 0 || count < 0 || hsize_t(offset + count) > n)
    fail(path_, "read of [" + std::to_string(offset) + ", " + std::to_string(offset + count) +
                    ") outside dataset '" + name_ + "' of " + std::to_string(n));
  std::vector<T> out(count);
  if (count == 0) return out;
  const hsize_t start = offset, cnt = count;
  H5Sselect_hyperslab(space.id(), H5S_SELECT_SET, &start, nullptr, &cnt, nullptr);
  H5Handle mem(H5Screate_simple(1, &cnt, nullptr), H5Sclose);
  if (H5Dread(ds_.id(), type, mem.id(), space.id(), H5P_DEFAULT, out.data()) < 0)
    fail(path_, "cannot read dataset '" + name_ + "' (checksum mismatch or truncated file)");
  return out;
}

std::vector<int32_t> H5Dataset::read_int32(int64_t o, int64_t c) const {
  return read<int32_t>(H5T_NATIVE_INT32, o, c);
}
std::vector<uint8_t> H5Dataset::read_uint8(int64_t o, int64_t c) const {
  return read<uint8_t>(H5T_NATIVE_UINT8, o, c);
}

int64_t H5File::length(const std::string& name) const {
  H5Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) fail(path_, "missing dataset '" + name + "'");
  H5Handle space(H5Dget_space(ds.id()), H5Sclose);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.id(), &n, nullptr);
  return static_cast<int64_t>(n);
}

bool H5File::has(const std::string& name) const {
  return H5Lexists(id(), name.c_str(), H5P_DEFAULT) > 0;
}

void H5File::set_attr(const std::string& name, int64_t value) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle a(H5Acreate2(id(), name.c_str(), H5T_NATIVE_INT64, space.id(), H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose);
  if (!a.valid() || H5Awrite(a.id(), H5T_NATIVE_INT64, &value) < 0)
    fail(path_, "cannot write attribute '" + name + "'");
}

void H5File::set_attr(const std::string& name, const std::string& value) {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.id(), std::max<size_t>(1, value.size()));
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle a(H5Acreate2(id(), name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose);
  if (!a.valid() || H5Awrite(a.id(), type.id(), value.c_str()) < 0)
    fail(path_, "cannot write attribute '" + name + "'");
}

int64_t H5File::attr_int(const std::string& name) const {
  H5Handle a(H5Aopen(id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  int64_t v = 0;
  if (!a.valid() || H5Aread(a.id(), H5T_NATIVE_INT64, &v) < 0)
    fail(path_, "missing or unreadable attribute '" + name + "'");
  return v;
}

std::string H5File::attr_string(const std::string& name) const {
  H5Handle a(H5Aopen(id(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a.valid()) fail(path_, "missing attribute '" + name + "'");
  H5Handle type(H5Aget_type(a.id()), H5Tclose);
  const size_t size = H5Tget_size(type.id());
  std::string s(size, '\0');
  if (H5Aread(a.id(), type.id(), s.data()) < 0) fail(path_, "unreadable attribute '" + name + "'");
  s.resize(std::min(s.size(), s.find('\0')));
  return s;
}

}  // namespace mofe::io
