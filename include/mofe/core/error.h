// Error types and check macros for mofe.
//
// Two kinds of failure, decided where the error is raised (LAMMPS' error->all / error->one):
//   UsageError  - bad options or config; every rank sees the same input and throws the same
//                 error, so rank 0 prints it once and all ranks exit with kExitUsage.
//   InputError    - bad input found after setup on one rank (a corrupt shard, a bad record):
//                 one line "mofe: error: ..." (naming the rank when there are several), and
//                 exit code kExitUsage for the whole job (MPI_Abort with it).
//   Error (and IoError, CommError) - something went wrong on *this* rank; main() prints
//                 "[rank r/N step s] cause" and calls MPI_Abort so no peer hangs in a collective.
#pragma once

#include <stdexcept>
#include <string>

namespace mofe {

constexpr int kExitUsage = 2;       // bad command line / config
constexpr int kExitFailure = 1;     // runtime failure (I/O, communication, numerics)
constexpr int kExitResumable = 75;  // stopped by a signal after a checkpoint (EX_TEMPFAIL)

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Invalid options or configuration, detected identically on every rank.
class UsageError : public Error {
 public:
  using Error::Error;
};

// A file could not be read or written, or its content is invalid.
class IoError : public Error {
 public:
  using Error::Error;
};

// The input is wrong (a corrupt shard, a bad record, a damaged tokenizer, safetensors or
// checkpoint file, too few few-shot examples), found once work began on the rank that read it:
// the user's to fix, so it exits like a usage error (kExitUsage), on one line naming the file.
class InputError : public IoError {
 public:
  using IoError::IoError;
};

// A communication library call failed.
class CommError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);
}  // namespace detail

}  // namespace mofe

// MOFE_CHECK_MPI(MPI_Allreduce(...)): throws CommError with the MPI error string and the call site.
// Communicators are created with MPI_ERRORS_RETURN so failures arrive here instead of aborting.
#define MOFE_CHECK_MPI(call)                                                    \
  do {                                                                          \
    int mofe_mpi_rc_ = (call);                                                  \
    if (mofe_mpi_rc_ != 0)                                                      \
      ::mofe::detail::throw_mpi_error(mofe_mpi_rc_, #call, __FILE__, __LINE__); \
  } while (0)

// MOFE_USAGE_CHECK(cond, msg): throws UsageError(msg) unless cond.
#define MOFE_USAGE_CHECK(cond, msg)             \
  do {                                          \
    if (!(cond)) throw ::mofe::UsageError(msg); \
  } while (0)
