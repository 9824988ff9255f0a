#include "mofe/dist/mpi_env.h"

#include <mpi.h>

#include <cstdlib>

#include "mofe/core/error.h"

namespace mofe::dist {

MpiEnv::MpiEnv(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // The autograd engine runs CUDA backward work on its own device thread, and the token
    // exchange's backward calls MPI there: ask for MULTIPLE. Calls never overlap (the main
    // thread waits inside backward()), so SERIALIZED is enough in practice.
    MOFE_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_));
    owns_ = true;
  } else {
    MPI_Query_thread(&thread_level_);
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MOFE_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_));
  MOFE_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &world_size_));
  MPI_Comm node;
  MOFE_CHECK_MPI(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank_, MPI_INFO_NULL, &node));
  MOFE_CHECK_MPI(MPI_Comm_rank(node, &local_rank_));
  MOFE_CHECK_MPI(MPI_Comm_size(node, &local_size_));
  MPI_Comm_free(&node);
}

MpiEnv::~MpiEnv() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiEnv::abort(int code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace mofe::dist
