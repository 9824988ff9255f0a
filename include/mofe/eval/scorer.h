// Scorer: the log-likelihood of each request's continuation, summed over its tokens, with the
// model laid out as in training (experts spread over the EP group). Collective over
// groups.world: MoE layers exchange tokens within the EP group, so every rank runs the same
// number of forward passes (a rank out of work runs a one-token dummy).
//
// Shared context (the default): the requests of one document that share their context tokens
// (all its choices, unless truncation cut them differently) are packed into one sequence,
//   [context c_0..c_{C-1}] [choice 0 minus its last token] [choice 1 minus its last token] ...
// each choice at the positions it would have alone (C, C+1, ...) and seeing only the context
// and its own earlier tokens (model/attention.h AttentionLayout). The context is computed once
// per question: for one-token choices (MMLU's " A") the forward pass is the context alone, as
// the harness's grouping of one-token continuations does; longer choices add only their own
// tokens. The numbers are those of scoring each request alone (tested). The LM head runs only
// on the rows that predict continuation tokens.
// Packed sequences are sorted by length and batched, right-padded, at most `batch_tokens`
// padded tokens per forward pass.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "mofe/dist/process_groups.h"
#include "mofe/eval/request.h"
#include "mofe/model/transformer.h"

namespace mofe::eval {

struct ScoreOptions {
  int64_t batch_tokens = 8192;
  int32_t pad_id = 0;
  bool share_context = true;  // false: one sequence per request (the reference path)
  // Called after each batch with requests done on this rank (rank 0 prints progress).
  std::function<void(int64_t done)> progress;
  // Routing: called per batch with this rank's routing choices [layer] x [B, S, K] (and the
  // PERFT-R adapter routers' [layer] x [B, S, k_a], empty without) and, per batch row, the
  // document's first request in it and how many leading positions to count (the context and
  // that request's continuation: the tokens of that request alone).
  std::function<void(const std::vector<torch::Tensor>&, const std::vector<torch::Tensor>&,
                     const std::vector<const Request*>&, const std::vector<int64_t>&)>
      routing;
};

struct Scores {
  std::vector<double> loglik;  // per request of `mine`
  std::vector<char> greedy;    // per request: every continuation token is the argmax
  int64_t forward_tokens = 0;  // real (unpadded) tokens this rank ran through the model
  int64_t forward_passes = 0;  // batches with work on this rank
};

// Sum of log p(continuation token | prefix) for each of `mine` (this rank's requests).
Scores score_requests(model::TransformerImpl& model, const std::vector<Request>& mine,
                      const dist::ProcessGroups& groups, const torch::Device& device,
                      const ScoreOptions& opt);

}  // namespace mofe::eval
