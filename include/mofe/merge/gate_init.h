// Router initialisation from prompts, reproducing mergekit-moe's gate modes
// (mergekit/moe/router.py) step by step:
//   tokens    one BOS then the prompt; a prompt set is left-padded with the BOS id to its longest
//   hidden    the base model over the prompt set; per layer l the residual stream entering l
//             (layer 0: the embeddings); hidden/hidden_last take the last position, hidden_avg
//             the mean over all positions, pads included (mergekit's behaviour),
//             hidden_avg_masked (mofe's extra) the mean over real tokens only; then the mean
//             over prompts
//   cheap_embed  sum of the embeddings of every real token of every prompt, L2-normalised,
//             the same vector for every layer
//   expert e  v(positive) - v(negative) when there are negative prompts, L2-normalised per
//             layer (norm clamped at 1e-8): row e of layer l's router
//   random    N(0, 1); uniform_random  U(-1/sqrt(D), 1/sqrt(D)); both seeded
// The base model runs in `compute` precision (float32 by default: a TinyLlama copy per rank
// takes 4.4 GB; float64 for golden tests), sums are float64. mergekit runs the base model in
// bfloat16, so its routers agree with these to about 3 significant digits.
// The prompt forward passes are split over the ranks of `comm` (prompt i on rank i mod size),
// each rank holding one copy of the base model; sums are all-reduced.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mofe/dist/communicator.h"
#include "mofe/io/model_source.h"

namespace mofe::merge {

using TokenLists = std::vector<std::vector<int32_t>>;  // one BOS + prompt tokens each

struct ExpertPrompts {
  TokenLists positive, negative;
};

// ids_BS / key_mask_BS (true = real token) of a prompt set, left-padded with `bos`.
std::pair<torch::Tensor, torch::Tensor> left_pad(const TokenLists& prompts, int32_t bos);

// Router weights [L, E, D], float64. Collective over `comm` for the hidden modes.
torch::Tensor gate_vectors(const std::string& mode, const io::ModelSource& base,
                           const std::vector<ExpertPrompts>& experts, int32_t bos,
                           const dist::Communicator& comm, uint64_t seed,
                           torch::ScalarType compute = torch::kFloat);

// Layers whose [E, D] router has a condition number above `threshold` (mergekit warns at 5):
// their experts' prompts are too similar for the router to tell them apart.
std::vector<std::pair<int64_t, double>> ill_conditioned_layers(const torch::Tensor& gates_LED,
                                                               double threshold = 5.0);

}  // namespace mofe::merge
