#include "mofe/eval/request.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "mofe/core/error.h"

namespace mofe::eval {

namespace {
// The pool indices of a document's few-shot examples. MMLU: the first N of its subject's dev
// split (the harness's first_n sampler). Others: the harness's default sampler draws N + 1 at
// random and drops the document itself; here the draw is seeded by the fewshot seed (1234)
// and the document's origin, so that a document gets the same examples on any number of
// ranks and in any run.
std::vector<size_t> fewshot_indices(const Task& task, const EvalDoc& doc,
                                    const std::vector<EvalDoc>& pool, int n) {
  std::vector<size_t> out;
  if (task.name == "mmlu") {
    for (size_t i = 0; i < pool.size() && int(out.size()) < n; ++i)
      if (pool[i].origin != doc.origin) out.push_back(i);
    return out;
  }
  uint64_t seed = 1234;
  for (unsigned char c : doc.origin) seed = (seed ^ c) * 1099511628211ULL;  // FNV-1a
  std::mt19937_64 rng(seed);
  std::vector<size_t> idx(pool.size());
  std::iota(idx.begin(), idx.end(), 0);
  const size_t draw = std::min(pool.size(), size_t(n) + 1);
  for (size_t i = 0; i < draw; ++i)  // partial Fisher-Yates: the first `draw` are the sample
    std::swap(idx[i], idx[i + size_t(rng() % (idx.size() - i))]);
  for (size_t i = 0; i < draw && int(out.size()) < n; ++i)
    if (pool[idx[i]].origin != doc.origin) out.push_back(idx[i]);
  return out;
}
}  // namespace

std::string build_context(const Task& task, const EvalDoc& doc, int num_fewshot) {
  std::string ctx = data::render_description(doc.tmpl, doc.doc);
  if (num_fewshot > 0) {
    auto it = task.fewshot.find(doc.group);
    size_t taken = 0;
    if (it != task.fewshot.end())
      for (size_t i : fewshot_indices(task, doc, it->second, num_fewshot)) {
        const auto& ex = it->second[i];
        ctx += data::render_question(ex.tmpl, ex.doc) + data::render_target(ex.doc) + "\n\n";
        ++taken;
      }
    if (int(taken) < num_fewshot)
      throw UsageError("--num-fewshot " + std::to_string(num_fewshot) + ": only " +
                       std::to_string(taken) + " examples for '" + doc.group + "' in task " +
                       task.name + " (mmlu: <subject>_dev.csv; others: --fewshot-data)");
  }
  return ctx + data::render_question(doc.tmpl, doc.doc);
}

std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_pair(const Encoder& encode,
                                                                  std::string context,
                                                                  std::string continuation,
                                                                  int32_t bos) {
  const auto keep = context.find_last_not_of(" \t\n\r\f\v");
  const size_t n_spaces = keep == std::string::npos ? context.size() : context.size() - keep - 1;
  if (n_spaces > 0) {
    continuation = context.substr(context.size() - n_spaces) + continuation;
    context.resize(context.size() - n_spaces);
  }
  std::vector<int32_t> whole, ctx;
  if (bos >= 0) whole.push_back(bos), ctx.push_back(bos);
  const auto w = encode(context + continuation), c = encode(context);
  whole.insert(whole.end(), w.begin(), w.end());
  ctx.insert(ctx.end(), c.begin(), c.end());
  std::vector<int32_t> cont(whole.begin() + long(std::min(ctx.size(), whole.size())), whole.end());
  return {ctx, cont};
}

std::vector<Request> build_requests(const Task& task, const std::vector<int64_t>& docs,
                                    const Encoder& encode, int32_t bos, int num_fewshot,
                                    int64_t max_len) {
  std::vector<Request> out;
  for (int64_t d : docs) {
    const EvalDoc& doc = task.docs[size_t(d)];
    const std::string context = build_context(task, doc, num_fewshot);
    for (size_t c = 0; c < doc.doc.choices.size(); ++c) {
      auto [ctx, cont] = encode_pair(encode, context, " " + doc.doc.choices[c], bos);
      if (cont.empty())
        throw UsageError("task " + task.name + ": " + doc.origin + ": choice '" +
                         doc.doc.choices[c] + "' tokenises to nothing");
      Request r;
      r.doc = d;
      r.choice = int(c);
      r.tokens = ctx;
      r.tokens.insert(r.tokens.end(), cont.begin(), cont.end());
      r.context_len = int64_t(ctx.size());
      if (int64_t(r.tokens.size()) > max_len + 1) {  // left truncation, as the harness does
        const int64_t drop = int64_t(r.tokens.size()) - (max_len + 1);
        r.tokens.erase(r.tokens.begin(), r.tokens.begin() + drop);
        r.context_len = std::max<int64_t>(1, r.context_len - drop);
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace mofe::eval
