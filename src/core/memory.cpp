#include "mofe/core/memory.h"

#include <dlfcn.h>
#include <malloc.h>

#include <fstream>
#include <string>

namespace mofe::core {

void retain_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_TRIM_THRESHOLD, -1);  // never trim the heap's top
  mallopt(M_MMAP_MAX, 0);         // every block from the heap, none mmap'd and unmapped on free
#endif
}

void reset_peak_rss() {
  malloc_trim(0);
  // tcmalloc (when the executable links it) keeps freed pages in its own page heap; its C API
  // hands them back. Looked up at run time, so this library does not depend on the allocator.
  using Release = void (*)();
  if (auto* release =
          reinterpret_cast<Release>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory")))
    release();
  std::ofstream("/proc/self/clear_refs") << "5";
}

double available_memory_bytes() {
  double avail = -1;
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") avail = kb * 1024.0;
  // A job's cgroup (Slurm, containers) may allow less than the node has free.
  std::ifstream max("/sys/fs/cgroup/memory.max"), cur("/sys/fs/cgroup/memory.current");
  std::string limit;
  double used = 0;
  if (max >> limit && limit != "max" && cur >> used) {
    const double left = std::stod(limit) - used;
    if (avail < 0 || left < avail) avail = left;
  }
  return avail;
}

namespace {
double status_mb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::string(key).size();
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(n)) / 1024.0;
  return 0;
}
}  // namespace

double peak_rss_mb() { return status_mb("VmHWM:"); }
double current_rss_mb() { return status_mb("VmRSS:"); }

}  // namespace mofe::core
