// Log-likelihood requests, built as lm-evaluation-harness builds them:
//   context       description + few-shot examples ("question target", joined by a blank
//                 line) + a blank line + the rendered question ending in "Answer:"
//   continuation  " " + choice
//   split         trailing whitespace of the context moves to the continuation; context +
//                 continuation is tokenised once, and the continuation is what follows the
//                 first len(tokenise(context)) tokens; BOS first when the tokenizer adds one
// One request per (document, choice).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mofe/eval/task.h"

namespace mofe::eval {

using Encoder = std::function<std::vector<int32_t>(const std::string&)>;

struct Request {
  int64_t doc = 0;  // index into Task::docs
  int choice = 0;
  std::vector<int32_t> tokens;  // context then continuation
  int64_t context_len = 0;      // tokens[0, context_len) are context (>= 1)
};

// The context string of a document with `num_fewshot` examples from its group's pool (the
// first ones, skipping the document itself). UsageError when the pool is too small.
std::string build_context(const Task& task, const EvalDoc& doc, int num_fewshot);

// {context tokens, continuation tokens} by the rule above (`bos` < 0: none).
std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_pair(const Encoder& encode,
                                                                  std::string context,
                                                                  std::string continuation,
                                                                  int32_t bos);

// Every request of the documents `docs` (indices into task.docs); sequences longer than
// max_len + 1 tokens lose context from the left, as the harness truncates them.
std::vector<Request> build_requests(const Task& task, const std::vector<int64_t>& docs,
                                    const Encoder& encode, int32_t bos, int num_fewshot,
                                    int64_t max_len);

}  // namespace mofe::eval
