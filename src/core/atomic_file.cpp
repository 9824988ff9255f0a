#include "mofe/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "mofe/core/error.h"

namespace mofe::core {

namespace fs = std::filesystem;

void sync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& body) {
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  bool ok = false;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out) {
      try {
        body(out);
      } catch (...) {  // the writer's own error: no temporary left behind, PATH untouched
        out.close();
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
      }
      out.flush();
      ok = bool(out);
    }
  }
  if (ok) {
    sync_path(tmp);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    ok = !ec;
  }
  if (!ok) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw IoError("cannot write '" + path.string() + "' (disk full or no permission?)");
  }
  const fs::path dir = path.parent_path();
  sync_path(dir.empty() ? fs::path(".") : dir);
}

void write_file_atomic(const fs::path& path, const std::string& text) {
  write_file_atomic(path, [&](std::ostream& out) { out << text; });
}

}  // namespace mofe::core
