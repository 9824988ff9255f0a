#include "mofe/io/staged_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "mofe/core/atomic_file.h"
#include "mofe/core/error.h"

namespace mofe::io {

namespace fs = std::filesystem;

namespace {

std::string host_name() {
  char b[256] = {0};
  gethostname(b, sizeof b - 1);
  return b;
}

// <final>.tmp-<host>.<pid>.<x> of this host whose process is gone.
void remove_stale(const fs::path& final_dir) {
  const fs::path parent = final_dir.parent_path().empty() ? "." : final_dir.parent_path();
  const std::string prefix = final_dir.filename().string() + ".tmp-" + host_name() + ".";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string n = e.path().filename().string();
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    const long pid = std::strtol(n.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
  }
}

}  // namespace

std::string make_staging_token() {
  std::random_device rd;
  char b[32];
  std::snprintf(b, sizeof b, "%08x", rd());
  return host_name() + "." + std::to_string(::getpid()) + "." + b;
}

StagedDir::StagedDir(std::string final_dir, const std::string& token, bool owner)
    : final_(fs::path(std::move(final_dir)).lexically_normal().string()), owner_(owner) {
  if (!final_.empty() && final_.back() == '/') final_.pop_back();
  staging_ = final_ + ".tmp-" + token;
  if (!owner_) return;
  std::error_code ec;
  const auto parent = fs::path(final_).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  remove_stale(final_);
  fs::remove_all(staging_, ec);
  if (!fs::create_directories(staging_, ec) && ec)
    throw IoError("cannot create '" + staging_ + "': " + ec.message());
}

StagedDir::~StagedDir() {
  if (!owner_ || published_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedDir::publish() {
  if (!owner_) return;
  core::sync_path(staging_);
  std::error_code ec;
  if (fs::exists(final_)) {
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, final_.c_str(), RENAME_EXCHANGE) != 0) {
      // A file system without the exchange: move the old one aside first (a crash in between
      // leaves no <final_dir> at all, still no mix).
      const std::string old = staging_ + ".old";
      fs::rename(final_, old);
      fs::rename(staging_, final_);
      fs::remove_all(old, ec);
    } else {
      fs::remove_all(staging_, ec);  // now the old contents
    }
  } else {
    fs::rename(staging_, final_);
  }
  const auto parent = fs::path(final_).parent_path();
  core::sync_path(parent.empty() ? fs::path(".") : parent);
  published_ = true;
}

void check_output_apart(const std::string& out, const std::vector<std::string>& inputs,
                        const std::string& option) {
  const fs::path o = fs::weakly_canonical(fs::absolute(out));
  auto inside = [](const fs::path& a, const fs::path& b) {  // a is b or lies inside b
    auto ai = a.begin(), bi = b.begin();
    for (; bi != b.end(); ++ai, ++bi)
      if (ai == a.end() || *ai != *bi) return false;
    return true;
  };
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    const fs::path i = fs::weakly_canonical(fs::absolute(in));
    if (inside(o, i) || inside(i, o))
      throw UsageError(option + " '" + out + "' " +
                       (o == i         ? "is"
                        : inside(i, o) ? "contains"
                                       : "lies inside") +
                       " the input '" + in +
                       "': writing it would destroy what is read; choose another directory");
  }
}

}  // namespace mofe::io
