// A trainer on this process alone (MPI_COMM_SELF groups, the MPI backend on the CPU): the
// single-process runs the unit tests train and compare.
#pragma once

#include <memory>

#include "mofe/dist/backend.h"
#include "mofe/train/trainer.h"
#include "support/tiny.h"

namespace mofe::fixtures {

struct Run {
  dist::ProcessGroups groups;
  std::unique_ptr<dist::CommBackend> backend;
  std::unique_ptr<train::Trainer> trainer;
};

// A bare model on this process alone (the caller builds and initialises it).
struct SoloModel {
  dist::ProcessGroups groups;
  std::unique_ptr<dist::CommBackend> backend;
  model::Transformer model{nullptr};
};

inline std::unique_ptr<Run> make_run(const config::RunConfig& cfg) {
  auto r = std::make_unique<Run>();
  r->groups = solo_groups(cfg.model.num_local_experts);
  r->backend = dist::make_backend("mpi", torch::kCPU);
  r->trainer = std::make_unique<train::Trainer>(cfg, r->groups, *r->backend, torch::kCPU);
  return r;
}

}  // namespace mofe::fixtures
