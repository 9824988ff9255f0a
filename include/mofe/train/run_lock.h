// RunLock: an exclusive lock file (O_CREAT | O_EXCL) in a directory a run writes (its run
// directory and its checkpoint directory), so two jobs never write the same run or the same
// checkpoints. HDF5's own file locking is often disabled on parallel file systems
// (HDF5_USE_FILE_LOCKING=FALSE), so it cannot be relied on. The lock holds "<host> <pid>".
//   - a holder that is gone (no such process on this host, or a zombie) is taken over, saying so;
//   - a live holder on this host: refused, naming it;
//   - a holder on another host cannot be checked from here: refused, naming the host and pid and
//     the flag (--break-lock) that takes the lock over once the user knows that job is gone.
#pragma once

#include <string>

namespace mofe::train {

class RunLock {
 public:
  // UsageError naming the holder when locked; `what` names the directory in messages
  // ("run directory", "checkpoint directory").
  explicit RunLock(const std::string& dir, bool break_lock = false,
                   const std::string& what = "run directory");
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  std::string path_;
};

// Whether process `pid` of this host is alive (a zombie is not).
bool process_alive(long pid);

}  // namespace mofe::train
