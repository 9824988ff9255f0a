#include "mofe/train/run_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "mofe/core/error.h"
#include "mofe/core/log.h"

namespace mofe::train {

namespace {
std::string host() {
  char h[256] = {0};
  gethostname(h, sizeof h - 1);
  return h;
}
}  // namespace

RunLock::RunLock(const std::string& dir) : path_(dir + "/run.lock") {
  std::filesystem::create_directories(dir);
  const std::string me = host() + " " + std::to_string(getpid());
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd >= 0) {
      const std::string text = me + "\n";
      if (write(fd, text.data(), text.size()) < 0) {
      }
      close(fd);
      return;
    }
    std::string holder_host;
    long pid = 0;
    std::ifstream(path_) >> holder_host >> pid;
    const bool dead_here = holder_host == host() && pid > 0 && kill(pid, 0) != 0;
    if (!dead_here)
      throw IoError("run directory '" + dir + "' is locked by " + holder_host + " pid " +
                    std::to_string(pid) + " (" + path_ + "); another job is writing this run");
    log::warn0("taking over stale lock " + path_ + " of dead process " + std::to_string(pid));
    std::remove(path_.c_str());
  }
  throw IoError("cannot lock run directory '" + dir + "'");
}

RunLock::~RunLock() { std::remove(path_.c_str()); }

}  // namespace mofe::train
