// Peak resident memory of this process (Linux VmHWM), for benchmarks and reports.
#pragma once

namespace mofe::core {

// Hands freed heap back (malloc_trim, and tcmalloc's page heap where the executable links it)
// and resets the high-water mark (clear_refs = 5), so the next peak is that of what follows,
// not of what came before.
void reset_peak_rss();
// Keeps freed heap memory in the process for the next allocation instead of handing it back
// to the kernel (glibc's mallopt: heap trimming off, and no block mmap'd, which glibc would
// unmap on free whatever its size above its 32 MB mmap-threshold limit). A training step frees
// and re-allocates the same gradient, logit and activation sizes every step; handed back, each
// re-allocation page-faults and the kernel zeroes it again (#16: most of the gap between the
// ref preset's full-mode step and its FLOPs). glibc's heap still fragments under that pattern
// (it grew ~440 MB in three full-mode steps of the ref preset with the live data unchanged),
// which is why the executable links tcmalloc where it can (CMakeLists.txt: MOFE_ALLOCATOR);
// tcmalloc ignores these settings. Called first in main(); a no-op where the C library is not
// glibc.
void retain_freed_memory();
double peak_rss_mb();  // since the last reset (or process start); 0 where not available
// Resident memory now (VmRSS): right after reset_peak_rss, what the process holds before the
// work being measured (libraries, MPI, earlier allocations), to subtract from a peak.
double current_rss_mb();
// Memory this node can still give (MemAvailable of /proc/meminfo, or the cgroup's limit minus
// its usage when that is lower), in bytes; -1 where not known.
double available_memory_bytes();

}  // namespace mofe::core
