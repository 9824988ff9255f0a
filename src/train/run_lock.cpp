#include "mofe/train/run_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
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

bool process_alive(long pid) {
  if (pid <= 0) return false;
  if (kill(pid_t(pid), 0) != 0 && errno == ESRCH) return false;
  // A zombie still answers kill(0) but will never release anything: /proc/<pid>/stat's state.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z') return false;
  return true;
}

RunLock::RunLock(const std::string& dir, bool break_lock, const std::string& what)
    : path_(dir + "/run.lock") {
  std::filesystem::create_directories(dir);
  const std::string me = host() + " " + std::to_string(getpid());
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd >= 0) {
      const std::string text = me + "\n";
      const bool ok = write(fd, text.data(), text.size()) == ssize_t(text.size());
      close(fd);
      if (!ok) throw IoError("cannot write the lock '" + path_ + "'");
      return;
    }
    std::string holder_host;
    long pid = 0;
    std::ifstream(path_) >> holder_host >> pid;
    const bool here = holder_host == host();
    if (here && process_alive(pid))
      throw UsageError(what + " '" + dir + "' is locked by pid " + std::to_string(pid) +
                       " on this host (" + path_ + "): another job is writing it");
    if (!here && !break_lock)
      throw UsageError(what + " '" + dir + "' is locked by " +
                       (holder_host.empty() ? std::string("an unknown host") : holder_host) +
                       " pid " + std::to_string(pid) + " (" + path_ +
                       "), which cannot be checked from here: if that job is gone, run again "
                       "with --break-lock");
    log::warn0(here ? "taking over the stale lock " + path_ + " of pid " + std::to_string(pid) +
                          ", which is gone"
                    : "--break-lock: taking over the lock " + path_ + " of " + holder_host +
                          " pid " + std::to_string(pid));
    std::remove(path_.c_str());
  }
  throw IoError("cannot lock " + what + " '" + dir + "'");
}

RunLock::~RunLock() { std::remove(path_.c_str()); }

}  // namespace mofe::train
