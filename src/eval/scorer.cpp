#include "mofe/eval/scorer.h"

#include <algorithm>
#include <numeric>

#include "mofe/core/error.h"

namespace mofe::eval {

namespace {

// Batches of request indices, longest first: B * longest <= batch_tokens (at least one row).
std::vector<std::vector<size_t>> plan_batches(const std::vector<Request>& reqs, int64_t budget) {
  std::vector<size_t> order(reqs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reqs[a].tokens.size() > reqs[b].tokens.size();
  });
  std::vector<std::vector<size_t>> out;
  for (size_t i : order) {
    // Input length = tokens - 1 (the last token is only a target).
    if (!out.empty()) {
      const int64_t longest = int64_t(reqs[out.back().front()].tokens.size()) - 1;
      if (int64_t(out.back().size() + 1) * longest <= budget) {
        out.back().push_back(i);
        continue;
      }
    }
    out.push_back({i});
  }
  return out;
}

}  // namespace

std::vector<double> score_requests(model::TransformerImpl& model, const std::vector<Request>& mine,
                                   const dist::ProcessGroups& groups, const torch::Device& device,
                                   const ScoreOptions& opt) {
  torch::NoGradGuard no_grad;
  model.eval();
  const auto batches = plan_batches(mine, opt.batch_tokens);
  // Every rank runs as many forward passes as the busiest one.
  const int64_t n = int64_t(batches.size());
  const int64_t most = groups.world.all_reduce(n, dist::Reduce::kMax);
  std::vector<double> out(mine.size(), 0.0);
  int64_t done = 0;
  for (int64_t b = 0; b < most; ++b) {
    if (b >= n) {  // out of work: a dummy pass keeps the EP group's all-to-alls matched
      model.forward(torch::full({1, 1}, int64_t(opt.pad_id), torch::kLong).to(device));
      continue;
    }
    const auto& rows = batches[size_t(b)];
    const int64_t B = int64_t(rows.size());
    const int64_t S = int64_t(mine[rows.front()].tokens.size()) - 1;
    auto ids = torch::full({B, S}, int64_t(opt.pad_id), torch::kLong);
    auto acc = ids.accessor<int64_t, 2>();
    for (int64_t r = 0; r < B; ++r) {
      const auto& t = mine[rows[size_t(r)]].tokens;
      for (size_t i = 0; i + 1 < t.size(); ++i) acc[r][int64_t(i)] = t[i];
    }
    auto out_model = model.forward(ids.to(device));
    // log p over the vocabulary in float64 for the positions that predict continuations only.
    for (int64_t r = 0; r < B; ++r) {
      const Request& q = mine[rows[size_t(r)]];
      const int64_t first = q.context_len - 1, count = int64_t(q.tokens.size()) - q.context_len;
      auto logits = out_model.logits_BSV[r].slice(0, first, first + count).to(torch::kFloat64);
      auto logp = torch::log_softmax(logits, -1).cpu();
      auto tgt = torch::tensor(
          std::vector<int64_t>(q.tokens.begin() + q.context_len, q.tokens.end()), torch::kLong);
      out[rows[size_t(r)]] = logp.gather(1, tgt.unsqueeze(1)).sum().item<double>();
    }
    if (opt.routing && !out_model.topk_ids_BSK.empty()) {
      std::vector<const Request*> reqs;
      std::vector<int64_t> lens;
      for (size_t i : rows)
        reqs.push_back(&mine[i]), lens.push_back(int64_t(mine[i].tokens.size()) - 1);
      opt.routing(out_model.topk_ids_BSK, reqs, lens);
    }
    done += B;
    if (opt.progress) opt.progress(done);
  }
  return out;
}

}  // namespace mofe::eval
