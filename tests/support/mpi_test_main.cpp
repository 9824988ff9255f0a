// main() for every mofe GoogleTest binary: initialises MPI (a singleton world of 1 when run
// without mpirun), lets only rank 0 print the normal GoogleTest output, prints failures from
// any rank prefixed with the rank, and returns the same exit code on every rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "mofe/dist/mpi_env.h"

namespace {

// Forwards failures of non-zero ranks, prefixed "[rank r]", to stderr (LAMMPS MPIPrinter idea).
class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_,
                   r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  mofe::dist::MpiEnv env(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  if (env.world_rank() != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(env.world_rank()));
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0, any_failed = failed;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (env.world_rank() == 0 && any_failed && !failed)
    std::fprintf(stderr, "a test failed on another rank (see [rank r] lines above)\n");
  return any_failed;
}
