#include "mofe/merge/gate_init.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "mofe/core/error.h"
#include "mofe/dist/backend.h"
#include "mofe/dist/process_groups.h"
#include "mofe/model/transformer.h"

namespace mofe::merge {

namespace {

// The mean over a prompt set of the per-layer hidden vectors: [L, D], float64. Each rank runs
// its share of the prompts through its own copy of the base model.
torch::Tensor mean_hidden(model::TransformerImpl& model, const TokenLists& prompts, int32_t bos,
                          const std::string& mode, const dist::Communicator& comm) {
  const auto& cfg = model.config();
  auto [ids, mask] = left_pad(prompts, bos);  // every rank pads to the same global length
  std::vector<int64_t> mine;
  for (int64_t i = comm.rank(); i < ids.size(0); i += comm.size()) mine.push_back(i);
  auto sum = torch::zeros({cfg.num_hidden_layers, cfg.hidden_size}, torch::kFloat64);
  if (!mine.empty()) {
    auto rows = torch::tensor(mine, torch::kLong);
    auto ids_b = ids.index_select(0, rows), mask_b = mask.index_select(0, rows);
    torch::NoGradGuard no_grad;
    const auto inputs = model.layer_inputs(ids_b, mask_b);  // [L] x [b, S, D]
    const int64_t S = ids.size(1);
    for (size_t l = 0; l < inputs.size(); ++l) {
      auto h = inputs[l].to(torch::kFloat64);
      torch::Tensor per_prompt;  // [b, D]
      if (mode == "hidden_avg") {
        per_prompt = h.sum(1) / double(S);
      } else if (mode == "hidden_avg_masked") {
        auto m = mask_b.to(torch::kFloat64).unsqueeze(-1);
        per_prompt = (h * m).sum(1) / m.sum(1);
      } else {  // hidden, hidden_last: the last position (a real token: padding is on the left)
        per_prompt = h.select(1, S - 1);
      }
      sum[int64_t(l)] += per_prompt.sum(0);
    }
  }
  if (comm.size() > 1) comm.all_reduce(sum.data_ptr<double>(), sum.numel(), dist::Reduce::kSum);
  return sum / double(prompts.size());
}

// Sum of the embeddings of every real token of every prompt, normalised: [L, D].
torch::Tensor cheap_embed(const torch::Tensor& embed_VD, const TokenLists& prompts, int64_t L) {
  auto v = torch::zeros({embed_VD.size(1)}, torch::kFloat64);
  for (const auto& p : prompts)
    for (int32_t t : p) v += embed_VD[t];
  v = v / v.norm().clamp_min(1e-8);
  return v.unsqueeze(0).repeat({L, 1});
}

torch::Tensor normalise_rows(const torch::Tensor& x_LD) {
  return x_LD / x_LD.norm(2, -1, /*keepdim=*/true).clamp_min(1e-8);
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> left_pad(const TokenLists& prompts, int32_t bos) {
  size_t S = 0;
  for (const auto& p : prompts) S = std::max(S, p.size());
  const int64_t B = int64_t(prompts.size());
  auto ids = torch::full({B, int64_t(S)}, bos, torch::kLong);
  auto mask = torch::zeros({B, int64_t(S)}, torch::kBool);
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[b];
    const int64_t off = int64_t(S - p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      ids[b][off + int64_t(i)] = p[i];
      mask[b][off + int64_t(i)] = true;
    }
  }
  return {ids, mask};
}

torch::Tensor gate_vectors(const std::string& mode, const io::ModelSource& base,
                           const std::vector<ExpertPrompts>& experts, int32_t bos,
                           const dist::Communicator& comm, uint64_t seed,
                           torch::ScalarType compute) {
  const auto& cfg = base.config();
  const int64_t L = cfg.num_hidden_layers, E = int64_t(experts.size()), D = cfg.hidden_size;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  if (mode == "random" || mode == "uniform_random") {
    auto gen = at::detail::createCPUGenerator(seed);
    if (mode == "random") return at::normal(0.0, 1.0, {L, E, D}, gen, f64);
    const double b = 1.0 / std::sqrt(double(D));
    return at::empty({L, E, D}, f64).uniform_(-b, b, gen);
  }
  for (const auto& e : experts)
    for (const auto* set : {&e.positive, &e.negative})
      for (const auto& p : *set)
        for (int32_t t : p)
          if (t < 0 || t >= cfg.vocab_size)
            throw UsageError("prompt token " + std::to_string(t) + " is outside the base model's " +
                             "vocabulary (" + std::to_string(cfg.vocab_size) +
                             "): wrong tokenizer?");

  std::function<torch::Tensor(const TokenLists&)> vec;
  torch::Tensor embed;
  std::unique_ptr<dist::ProcessGroups> groups;
  std::unique_ptr<dist::CommBackend> backend;
  model::Transformer model{nullptr};
  if (mode == "cheap_embed") {
    embed = base.load("embed_tokens.weight").to(torch::kFloat64);
    vec = [&](const TokenLists& p) { return cheap_embed(embed, p, L); };
  } else {
    // One private copy of the base model per rank (MPI_COMM_SELF groups: no collectives).
    auto self = dist::Communicator::dup(MPI_COMM_SELF, "self");
    config::ParallelConfig par;
    par.resolve(1, cfg.num_local_experts);
    groups = std::make_unique<dist::ProcessGroups>(
        dist::ProcessGroups::build(self, par, cfg.num_local_experts));
    backend = dist::make_backend("mpi", torch::kCPU);
    model = model::Transformer(cfg, *groups, *backend);
    model->to(compute);
    io::load_into(base, *model);
    model->eval();
    vec = [&](const TokenLists& p) { return mean_hidden(*model, p, bos, mode, comm); };
  }
  std::vector<torch::Tensor> rows;  // E x [L, D]
  for (const auto& e : experts) {
    auto v = vec(e.positive);
    if (!e.negative.empty()) v = v - vec(e.negative);
    rows.push_back(normalise_rows(v));
  }
  return torch::stack(rows, 1);  // [L, E, D]
}

std::vector<std::pair<int64_t, double>> ill_conditioned_layers(const torch::Tensor& gates_LED,
                                                               double threshold) {
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t l = 0; l < gates_LED.size(0); ++l) {
    auto s = torch::linalg::svdvals(gates_LED[l].to(torch::kFloat64), c10::nullopt);
    const double smax = s.max().item<double>(), smin = s.min().item<double>();
    const double cond = smin > 0 ? smax / smin : INFINITY;
    if (cond > threshold) out.emplace_back(l, cond);
  }
  return out;
}

}  // namespace mofe::merge
