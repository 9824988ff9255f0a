// Checkpoints: a directory per step, published atomically, loadable on another layout.
//   <dir>/step_00000120/
//     dense.h5                       trainable non-expert parameters + AdamW state (world rank 0)
//     experts/layer03_expert05.h5    one expert of one layer (+ its AdamW state when trained),
//                                    written by the replica with dp rank 0; named by layer and
//                                    expert, not rank, so any expert-parallel size can load it
//     state.json                     step, where frozen experts come from, config, layout, versions
//   <dir>/latest                     name of the newest published checkpoint
// Frozen experts are not written again (mofe mode): state.json records their source (the
// --model the run started from, with its checksum, or the seed of the initialisation).
// --full-checkpoint writes them too. Every rank writes into step_X.tmp/; after a barrier rank 0
// renames it to step_X, then replaces `latest`, then deletes checkpoints beyond --keep-checkpoints.
// A run killed while writing leaves the previous checkpoint published and intact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mofe/ckpt/train_state.h"
#include "mofe/config/checkpoint_config.h"
#include "mofe/config/run_config.h"
#include "mofe/dist/process_groups.h"

namespace mofe::ckpt {

struct SaveReport {
  std::string path;
  double seconds = 0;
  int64_t bytes = 0;  // on disk, all files
};

// Collective over groups.world. `step` = optimizer steps done. Tensors of world-replicated
// roles are written by world rank 0, an expert's by its replica with dp rank 0.
SaveReport save(const config::CheckpointConfig& cc, const config::RunConfig& run, int64_t step,
                const TrainState& state, const dist::ProcessGroups& groups);

// Restores tensors and optimizer state in place; returns the step to continue from (0: nothing
// to resume). `resume` = "auto": the latest intact checkpoint, falling back to older ones
// (saying so); a path: that checkpoint or an error. Collective over groups.world.
int64_t restore(const config::CheckpointConfig& cc, TrainState& state,
                const dist::ProcessGroups& groups);

// Before any work: the checkpoint a resume would start from must fit this run, or the resume
// would be silently wrong. Refused (UsageError naming the setting, its value in the checkpoint
// and now): another mode, model shape (sizes, experts, top-k, ...), seed (the data order and a
// seeded initialisation), PEFT setting, or frozen weights (state.json's "frozen_source"
// against `provenance`: another --model, a changed model file, another seed). A different
// layout or global batch is fine: the data position is kept in samples. Nothing to check when
// there is no checkpoint to resume; a damaged state.json is restore()'s to report.
void check_resume(const config::CheckpointConfig& cc, const config::RunConfig& run,
                  const nlohmann::json& provenance);

// Removes what a killed run left half-done in `dir`: step_X.tmp directories, latest.tmp, and
// step directories newer than the one `latest` names (renamed, never published). When `latest`
// is unreadable nothing but *.tmp is removed: nothing published is ever deleted. Call on one
// rank only, while holding the lock of `dir` (no live writer can own them).
void clean_unpublished(const std::string& dir);

// What <dir>/latest says: absent; the name of a published checkpoint of <dir>
// ("step_00000120", its state.json present); or unreadable (anything else: garbage, a path, a
// checkpoint that is not there), which `text` shows.
struct Latest {
  enum class State { kAbsent, kValid, kUnreadable } state = State::kAbsent;
  std::string name, text;
};
Latest read_latest(const std::string& dir);

// The checkpoint name that <dir>/latest publishes, or "" when there is none or it is unreadable.
std::string latest_name(const std::string& dir);

// Complete checkpoint directories in `dir`, oldest first.
std::vector<std::string> published(const std::string& dir);

}  // namespace mofe::ckpt
