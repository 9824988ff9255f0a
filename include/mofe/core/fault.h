// Fault injection for tests: provoke each failure mode on purpose, on one rank, at one step.
//
//   MOFE_FAULT=POINT:ACTION[:RANK[:STEP]]      RANK, STEP: a number or * (default *)
//
// POINT   where it fires                                      (STEP counts from 1 as the
//   step                 start of a training step               progress lines and the
//                                                               "[rank r/N step s]" prefix do;
//                                                               a checkpoint point's STEP is
//                                                               the step it saves)
//   loss                 the step's loss (ACTION nan only)
//   grad                 this rank's gradients after backward, before they are summed
//                        (ACTION inf only: an fp16 overflow, for the loss scaler)
//   checkpoint-write     after this rank wrote its first checkpoint file, before the barrier
//   checkpoint-manifest  rank 0: every file written, before state.json and the rename
//   checkpoint-latest    rank 0: checkpoint renamed, before the `latest` pointer is replaced
// ACTION
//   throw  an Error (the normal failure path: message, MPI_Abort)
//   exit   _exit(3) without a word (a rank that vanishes)
//   kill   SIGKILL to itself (kill -9: no handler, no flush)
//   hang   sleep forever (what --step-timeout is for)
//   nan    the loss becomes NaN (point `loss` only)
//   inf    one gradient element becomes +inf (point `grad` only)
//   stop   as if SIGUSR1 had arrived on this rank
//
// It is parsed once at start-up (a bad value is a usage error naming MOFE_FAULT) and is off
// unless the variable is set. It lives in process-wide state on purpose: like a signal, it is
// a property of the process under test, not of any component.
#pragma once

#include <cstdint>
#include <string>

namespace mofe::fault {

// Reads MOFE_FAULT; throws UsageError when it is malformed. `rank`: this process's world rank.
void configure_from_env(int rank);

// Fires the configured fault if it names `point` at `step` on this rank (nan: see below).
void at(const char* point, int64_t step);

// True when the configured fault is nan@loss at `step` on this rank.
bool nan_loss(int64_t step);

// True when the configured fault is inf@grad at `step` on this rank.
bool inf_grad(int64_t step);

// "checkpoint-write:kill:1:3" or "" when off (for the start-up log).
std::string describe();

}  // namespace mofe::fault
