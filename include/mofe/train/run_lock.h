// RunLock: an exclusive lock file in the run directory (O_CREAT | O_EXCL), so two jobs never
// write the same run. HDF5's own file locking is often disabled on parallel file systems
// (HDF5_USE_FILE_LOCKING=FALSE), so it cannot be relied on. A lock left by a dead process on
// this host is taken over with a warning.
#pragma once

#include <string>

namespace mofe::train {

class RunLock {
 public:
  explicit RunLock(const std::string& dir);  // IoError naming the holder when locked
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  std::string path_;
};

}  // namespace mofe::train
