// Scorer: the log-likelihood of each request's continuation, summed over its tokens, with the
// model laid out as in training (experts spread over the EP group). Requests are sorted by
// length and packed into right-padded batches of at most `batch_tokens` (padded) tokens, so
// the cost is about that of the forward passes needed. Collective over groups.world: MoE
// layers exchange tokens within the EP group, so every rank runs the same number of forward
// passes (a rank out of work runs a one-token dummy).
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
  // Called after each batch with requests done on this rank (rank 0 prints progress).
  std::function<void(int64_t done)> progress;
  // Routing: called per batch with this rank's routing choices [layer] x [B, S, K] and, per
  // batch row, the request it holds and how many leading positions are real tokens.
  std::function<void(const std::vector<torch::Tensor>&, const std::vector<const Request*>&,
                     const std::vector<int64_t>&)>
      routing;
};

// Sum of log p(continuation token | prefix) for each of `mine` (this rank's requests).
std::vector<double> score_requests(model::TransformerImpl& model, const std::vector<Request>& mine,
                                   const dist::ProcessGroups& groups, const torch::Device& device,
                                   const ScoreOptions& opt);

}  // namespace mofe::eval
