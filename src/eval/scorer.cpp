#include "mofe/eval/scorer.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "mofe/core/error.h"

namespace mofe::eval {

namespace {

// One packed sequence: a shared context and the requests scored from it.
struct Pack {
  std::vector<size_t> reqs;  // indices into `mine`, in request order
  int64_t context_len = 0;   // C
  int64_t length = 0;        // C + sum(continuation - 1)
};

std::vector<Pack> make_packs(const std::vector<Request>& mine, bool share) {
  std::vector<Pack> packs;
  std::map<std::pair<int64_t, std::vector<int32_t>>, size_t> by_context;  // (doc, context)
  for (size_t i = 0; i < mine.size(); ++i) {
    const Request& r = mine[i];
    const int64_t extra = int64_t(r.tokens.size()) - r.context_len - 1;
    size_t at = packs.size();
    if (share) {
      std::vector<int32_t> ctx(r.tokens.begin(), r.tokens.begin() + r.context_len);
      auto [it, fresh] = by_context.try_emplace({r.doc, std::move(ctx)}, packs.size());
      at = it->second;
      if (!fresh) {
        packs[at].reqs.push_back(i);
        packs[at].length += extra;
        continue;
      }
    }
    packs.push_back({{i}, r.context_len, r.context_len + extra});
  }
  return packs;
}

// Batches of pack indices, longest first: B * longest <= budget (at least one row).
std::vector<std::vector<size_t>> plan_batches(const std::vector<Pack>& packs, int64_t budget) {
  std::vector<size_t> order(packs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return packs[a].length > packs[b].length; });
  std::vector<std::vector<size_t>> out;
  for (size_t i : order) {
    if (!out.empty()) {
      const int64_t longest = packs[out.back().front()].length;
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

Scores score_requests(model::TransformerImpl& model, const std::vector<Request>& mine,
                      const dist::ProcessGroups& groups, const torch::Device& device,
                      const ScoreOptions& opt) {
  torch::NoGradGuard no_grad;
  model.eval();
  const auto packs = make_packs(mine, opt.share_context);
  const auto batches = plan_batches(packs, opt.batch_tokens);
  // Every rank runs as many forward passes as the busiest one.
  const int64_t n = int64_t(batches.size());
  const int64_t most = groups.world.all_reduce(n, dist::Reduce::kMax);
  Scores out;
  out.loglik.assign(mine.size(), 0.0);
  out.greedy.assign(mine.size(), 0);
  int64_t done = 0;
  for (int64_t b = 0; b < most; ++b) {
    if (b >= n) {  // out of work: a dummy pass keeps the EP group's all-to-alls matched
      model.forward(torch::full({1, 1}, int64_t(opt.pad_id), torch::kLong).to(device), false);
      continue;
    }
    const auto& rows = batches[size_t(b)];
    const int64_t B = int64_t(rows.size()), S = packs[rows.front()].length;
    // ids, positions and the mask, row by row; pad positions see only themselves.
    auto ids = torch::full({B, S}, int64_t(opt.pad_id), torch::kLong);
    auto pos = torch::zeros({B, S}, torch::kLong);
    auto allowed = torch::eye(S, torch::kBool).repeat({B, 1, 1});
    auto ia = ids.accessor<int64_t, 2>();
    auto pa = pos.accessor<int64_t, 2>();
    auto causal = [](int64_t n) { return torch::ones({n, n}, torch::kBool).tril(); };
    // Per request: the rows whose logits predict its continuation tokens, and those tokens.
    std::vector<int64_t> pred_rows, targets;
    std::vector<std::pair<size_t, int64_t>> spans;  // (request, count) in pred_rows order
    for (int64_t r = 0; r < B; ++r) {
      const Pack& p = packs[rows[size_t(r)]];
      const auto& first = mine[p.reqs.front()].tokens;
      for (int64_t i = 0; i < p.context_len; ++i) ia[r][i] = first[size_t(i)], pa[r][i] = i;
      auto mask = allowed[r];
      mask.slice(0, 0, p.context_len).slice(1, 0, p.context_len).copy_(causal(p.context_len));
      int64_t at = p.context_len;  // where this request's segment starts
      for (size_t q : p.reqs) {
        const Request& req = mine[q];
        const int64_t cont = int64_t(req.tokens.size()) - req.context_len;
        // Segment: continuation tokens 0..cont-2 (the last is only a target).
        for (int64_t j = 0; j + 1 < cont; ++j) {
          ia[r][at + j] = req.tokens[size_t(req.context_len + j)];
          pa[r][at + j] = req.context_len + j;
        }
        if (cont > 1) {  // the segment sees the whole context and itself causally
          auto seg = mask.slice(0, at, at + cont - 1);
          seg.slice(1, 0, p.context_len).fill_(true);
          seg.slice(1, at, at + cont - 1).copy_(causal(cont - 1));
        }
        // Token 0 is predicted by the context's last row, token j by the segment's row j-1.
        for (int64_t j = 0; j < cont; ++j) {
          pred_rows.push_back(r * S + (j == 0 ? p.context_len - 1 : at + j - 1));
          targets.push_back(req.tokens[size_t(req.context_len + j)]);
        }
        spans.emplace_back(q, cont);
        at += cont - 1;
        out.forward_tokens += cont - 1;
      }
      out.forward_tokens += p.context_len;
    }
    const auto layout = model::make_attention_layout(pos.to(device), allowed.to(device),
                                                     model.embed_tokens->weight.scalar_type());
    // Only the predicting rows go through the last layer and the head (the routing report
    // wants every row's choices in every layer, so it gets the whole last layer).
    auto pred = torch::tensor(pred_rows, torch::kLong).to(device);
    auto mo = model.forward_packed(ids.to(device), layout, opt.routing ? torch::Tensor() : pred);
    auto h = opt.routing ? mo.h_BSD.reshape({B * S, -1}).index_select(0, pred) : mo.h_RD;
    // log p in float64 over the vocabulary.
    auto logp = torch::log_softmax(model.head(h).to(torch::kFloat64), -1).cpu();
    auto tgt = torch::tensor(targets, torch::kLong);
    auto picked = logp.gather(1, tgt.unsqueeze(1)).squeeze(1);
    auto greedy = logp.argmax(-1).eq(tgt);
    auto pk = picked.accessor<double, 1>();
    auto gr = greedy.accessor<bool, 1>();
    int64_t k = 0;
    for (const auto& [q, count] : spans) {
      double sum = 0;
      bool all = true;
      for (int64_t j = 0; j < count; ++j, ++k) sum += pk[k], all = all && gr[k];
      out.loglik[q] = sum;
      out.greedy[q] = all;
    }
    if (opt.routing && !mo.topk_ids_BSK.empty()) {
      std::vector<const Request*> reqs;
      std::vector<int64_t> lens;
      for (size_t pi : rows) {
        const Request& r0 = mine[packs[pi].reqs.front()];
        reqs.push_back(&r0), lens.push_back(int64_t(r0.tokens.size()) - 1);
      }
      opt.routing(mo.topk_ids_BSK, mo.adapter_topk_ids_BSK, reqs, lens);
    }
    ++out.forward_passes;
    for (size_t pi : rows) done += int64_t(packs[pi].reqs.size());
    if (opt.progress) opt.progress(done);
  }
  return out;
}

}  // namespace mofe::eval
