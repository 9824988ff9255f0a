// CheckpointConfig: when and where checkpoints are written, and what a run resumes from.
#pragma once

#include <cstdint>
#include <string>

namespace mofe::config {

struct CheckpointConfig {
  std::string dir;     // default: <out_dir>/checkpoints
  int64_t every = 0;   // steps between checkpoints; 0: only at the end and on a signal
  int64_t keep = 3;    // published checkpoints kept (older ones deleted after a newer one)
  std::string resume;  // "" (start fresh) | "auto" (latest intact, if any) | a checkpoint dir
  bool full = false;   // also write frozen experts (a self-contained copy)
  int64_t max_bad_steps = 5;  // non-finite loss/gradient steps in a row before giving up
  bool break_lock = false;    // take over a lock held by a job of another host (train/run_lock.h)

  void validate() const;
};

}  // namespace mofe::config
