// Which collective this process is in, or last left: named in the --step-timeout watchdog's
// message, so that a stuck job says "in all_to_all_v on ep (2 ranks) for 31 s" rather than
// nothing. Each collective entry point opens a CollectiveScope; the state is process-wide
// because the watchdog thread has to read it from outside the call stack that set it.
#pragma once

#include <string>

#include "mofe/dist/communicator.h"

namespace mofe::dist {

class CollectiveScope {
 public:
  CollectiveScope(const char* op, const Communicator& comm);
  ~CollectiveScope();
  CollectiveScope(const CollectiveScope&) = delete;
  CollectiveScope& operator=(const CollectiveScope&) = delete;
};

// "in all_reduce_sum on world (4 ranks) for 12.0 s", "last: barrier on world (2 ranks), left
// 3.1 s ago", or "none yet".
std::string describe_last_collective();

}  // namespace mofe::dist
