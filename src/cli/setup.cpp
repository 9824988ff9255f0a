#include <mpi.h>

#include <cstdio>

#include "mofe/cli/commands.h"

#include <mpi.h>

#include "mofe/core/error.h"
#include "mofe/core/memory.h"

namespace mofe::cli {

bool agree_on_setup(const std::function<void()>& parse, const dist::MpiEnv& env) {
  std::string message;
  try {
    parse();
  } catch (const UsageError& e) {
    message = e.what();
  } catch (const IoError& e) {
    message = e.what();
  }
  int mine = message.empty() ? env.world_size() : env.world_rank();
  int first_bad = mine;
  MOFE_CHECK_MPI(MPI_Allreduce(&mine, &first_bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
  if (first_bad == env.world_size()) return true;
  if (env.world_rank() == first_bad) {
    if (env.world_size() > 1 && first_bad != 0)
      std::fprintf(stderr, "mofe: error (rank %d): %s\n", first_bad, message.c_str());
    else
      std::fprintf(stderr, "mofe: error: %s\n", message.c_str());
    std::fflush(stderr);
  }
  return false;
}

std::vector<double> peak_rss_per_rank() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  double mine = core::peak_rss_mb();
  std::vector<double> all(size_t(size), 0.0);
  MPI_Allgather(&mine, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  return all;
}

}  // namespace mofe::cli
