// Hugging Face tensor names <-> mofe parameter names.
//   mofe                                             HF (Llama / Mixtral)
//   embed_tokens.weight, layers.L.*, norm.weight     model.embed_tokens.weight, model.layers.L.*,
//   ... lm_head.weight                                   lm_head.weight
//   layers.L.block_sparse_moe.experts.E.gate_proj    ...experts.E.w1    (Mixtral's names)
//   layers.L.block_sparse_moe.experts.E.down_proj    ...experts.E.w2
//   layers.L.block_sparse_moe.experts.E.up_proj      ...experts.E.w3
#pragma once

#include <string>

namespace mofe::io {

std::string to_hf_name(const std::string& mofe_name);
// "" for tensors mofe does not model (e.g. the rotary inv_freq buffers of old checkpoints).
std::string from_hf_name(const std::string& hf_name);

}  // namespace mofe::io
