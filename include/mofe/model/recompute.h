// Activation recomputation (gradient checkpointing): a region of the forward pass keeps only
// its inputs; backward runs it again with gradients on and back-propagates through that copy.
// LibTorch's C++ API has no torch.utils.checkpoint, so this is its classic form, one custom
// autograd function:
//   forward   outputs = fn(inputs) with grad mode off (a custom function's forward): no graph,
//             no saved activations inside the region; the inputs are saved.
//   backward  the same fn on detached copies of the inputs, with grad mode on and the RNG state
//             of the first run (dropout draws the same masks), then autograd::grad of the
//             outputs that received a gradient, w.r.t. the inputs and `params`.
// The parameters' gradients are returned to the engine like any input's, so they accumulate
// into .grad exactly as without recomputation (float64: bitwise the same gradients).
//
// Collectives inside the region (the MoE's all-to-all and count exchanges) run again in
// backward. Every rank recomputes the same regions in the same order (the graph is the same
// on every rank), so the collectives still pair up.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace mofe::model {

using RegionFn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

// outputs = fn(inputs), recomputed in backward. `params`: the trainable tensors fn reads
// besides its inputs (parameters that do not require grad may be left out). fn must be
// deterministic given its inputs and the RNG state, and return floating-point tensors (side
// results, e.g. routing counts, go through the closure). When grad mode is off, or no input
// or parameter requires grad, fn is simply called.
std::vector<torch::Tensor> recompute(const RegionFn& fn, const std::vector<torch::Tensor>& inputs,
                                     const std::vector<torch::Tensor>& params);

// The parameters of `module` (recursively) that require grad: what recompute() needs.
std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& module);

}  // namespace mofe::model
