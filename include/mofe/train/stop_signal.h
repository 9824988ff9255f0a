// Stop requests from the outside world (Slurm's --signal=B:USR1@N before a time limit or
// preemption, SIGTERM from scancel or the node). The handler only sets a flag; the training
// loop reads it at each step boundary and the ranks agree on it with an all-reduce, so every
// rank checkpoints at the same step and none is left inside a collective.
#pragma once

namespace mofe::train {

void install_stop_handlers();  // SIGUSR1 and SIGTERM
bool stop_requested();         // this process received one
void request_stop();           // as if a signal had arrived (tests, fault injection)
// Seconds since the first stop request reached this process (0 if none): the time from the
// signal to the published checkpoint is what has to fit in Slurm's --signal lead time.
double seconds_since_stop_request();

}  // namespace mofe::train
