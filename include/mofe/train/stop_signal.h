// Stop requests from the outside world (Slurm's --signal=B:USR1@N before a time limit or
// preemption, SIGTERM from scancel or the node). The handler only sets a flag; the training
// loop reads it at each step boundary and the ranks agree on it with an all-reduce, so every
// rank checkpoints at the same step and none is left inside a collective.
#pragma once

namespace mofe::train {

void install_stop_handlers();  // SIGUSR1 and SIGTERM
bool stop_requested();         // this process received one
void request_stop();           // as if a signal had arrived (tests, fault injection)

}  // namespace mofe::train
