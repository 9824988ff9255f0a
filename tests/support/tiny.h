// Builders shared by the tests: tiny configs, process groups on any communicator, batches.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

#include "mofe/config/run_config.h"
#include "mofe/data/synthetic.h"
#include "mofe/dist/process_groups.h"
#include "mofe/model/transformer.h"

namespace mofe::fixtures {

// A small MoE run config: 2 layers, hidden 32, 4 experts top-2, vocab 64, seq 16.
inline config::RunConfig tiny_config(int64_t experts = 4, const std::string& dtype = "float64") {
  config::RunConfig c;
  c.model.hidden_size = 32;
  c.model.intermediate_size = 48;
  c.model.num_hidden_layers = 2;
  c.model.num_attention_heads = 4;
  c.model.num_key_value_heads = 2;
  c.model.vocab_size = 64;
  c.model.num_local_experts = experts;
  c.model.num_experts_per_tok = 2;
  c.train.micro_batch = 2;
  c.train.seq_len = 16;
  c.train.steps = 10;
  c.train.warmup_steps = 2;
  c.runtime.dtype = dtype;
  return c;
}

// Groups on a communicator of one rank (this process alone): the single-process reference.
inline dist::ProcessGroups solo_groups(int64_t experts) {
  auto self = dist::Communicator::dup(MPI_COMM_SELF, "self");
  config::ParallelConfig p;
  p.resolve(1, experts);
  return dist::ProcessGroups::build(self, p, experts);
}

inline dist::ProcessGroups world_groups(int ep, int64_t experts) {
  auto world = dist::Communicator::world();
  config::ParallelConfig p;
  p.ep_size = ep;
  p.resolve(world.size(), experts);
  return dist::ProcessGroups::build(world, p, experts);
}

inline data::Batch synthetic_batch(const config::RunConfig& c, int64_t first, int64_t count) {
  data::SyntheticLanguage lang(c.model.vocab_size, c.data.branching, c.data.seed);
  return lang.batch(first, count, c.train.seq_len);
}

// The global expert id of a parameter, from its role; -1 when it is no expert weight.
inline int64_t expert_of(const model::TransformerImpl& m, const std::string& name) {
  const auto& role = m.params().at(name).role;
  return role.kind == model::ParamKind::kExpert ? role.expert : -1;
}

// name -> copy of the tensor, for before/after comparisons.
inline std::map<std::string, torch::Tensor> snapshot(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

// max |a - b| / max(max |b|, tiny): a norm-wise relative error.
inline double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  auto ad = a.to(torch::kDouble), bd = b.to(torch::kDouble);
  const double scale = std::max(bd.abs().max().item<double>(), 1e-30);
  return (ad - bd).abs().max().item<double>() / scale;
}

}  // namespace mofe::fixtures
