// Peak resident memory of this process (Linux VmHWM), for benchmarks and reports.
#pragma once

namespace mofe::core {

// Hands freed heap back (malloc_trim) and resets the high-water mark (clear_refs = 5), so the
// next peak is that of what follows, not of what came before.
void reset_peak_rss();
double peak_rss_mb();  // since the last reset (or process start); 0 where not available
// Resident memory now (VmRSS): right after reset_peak_rss, what the process holds before the
// work being measured (libraries, MPI, earlier allocations), to subtract from a peak.
double current_rss_mb();
// Memory this node can still give (MemAvailable of /proc/meminfo, or the cgroup's limit minus
// its usage when that is lower), in bytes; -1 where not known.
double available_memory_bytes();

}  // namespace mofe::core
