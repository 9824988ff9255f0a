#include "mofe/core/error.h"

#include <mpi.h>

#include <sstream>

namespace mofe::detail {

void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(code, text, &len);
  std::ostringstream os;
  os << "MPI call failed: " << call << ": " << text << " (" << file << ":" << line << ")";
  throw CommError(os.str());
}

}  // namespace mofe::detail
