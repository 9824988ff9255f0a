#include "mofe/merge/merge.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "mofe/ckpt/model_dir.h"
#include "mofe/ckpt/open_model.h"
#include "mofe/core/error.h"
#include "mofe/core/log.h"
#include "mofe/data/tokenizer.h"
#include "mofe/merge/gate_init.h"
#include "mofe/model/param_layout.h"

namespace mofe::merge {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The models must agree on everything an expert's MLP or the base's layers depend on.
void check_compatible(const io::ModelSource& base, const io::ModelSource& expert) {
  const auto &b = base.config(), &e = expert.config();
  auto fail = [&](const std::string& what, int64_t x, int64_t y) {
    throw UsageError("expert model '" + expert.path() + "' has " + what + " " + std::to_string(y) +
                     ", the base model '" + base.path() + "' " + std::to_string(x));
  };
  if (e.is_moe())
    throw UsageError("expert model '" + expert.path() + "' is a MoE; experts must be dense Llama");
  if (e.hidden_size != b.hidden_size) fail("hidden_size", b.hidden_size, e.hidden_size);
  if (e.num_hidden_layers != b.num_hidden_layers)
    fail("num_hidden_layers", b.num_hidden_layers, e.num_hidden_layers);
  if (e.intermediate_size != b.intermediate_size)
    fail("intermediate_size", b.intermediate_size, e.intermediate_size);
}

// "layers.3.block_sparse_moe.experts.5.up_proj.weight" -> "layers.3.mlp.up_proj.weight"
std::string dense_name(const model::ParamSpec& s) {
  const std::string leaf = s.name.substr(s.name.rfind('.', s.name.size() - 8) + 1);
  return "layers." + std::to_string(s.layer) + ".mlp." + leaf;
}

}  // namespace

MergeReport merge_models(const MergeConfig& cfg, const MergeOptions& opt,
                         const dist::Communicator& comm) {
  cfg.validate(opt.allow_identical_experts);
  MergeReport rep;
  auto base = ckpt::open_model(cfg.base_model);
  if (base->config().is_moe())
    throw UsageError("base model '" + base->path() + "' is a MoE; the base must be dense Llama");
  std::map<std::string, std::unique_ptr<io::ModelSource>> sources;  // one per distinct path
  for (const auto& e : cfg.experts)
    if (!sources.count(e.source_model)) {
      sources[e.source_model] = ckpt::open_model(e.source_model);
      check_compatible(*base, *sources[e.source_model]);
    }

  // Routers.
  const auto t0 = Clock::now();
  std::vector<ExpertPrompts> prompts(cfg.experts.size());
  int32_t bos = int32_t(base->config().bos_token_id);
  std::string tokenizer_path =
      opt.tokenizer.empty() ? ckpt::find_tokenizer(base->path()) : opt.tokenizer;
  if (cfg.prompt_based()) {
    if (tokenizer_path.empty())
      throw UsageError("gate_mode " + cfg.gate_mode + " needs the base model's tokenizer: none " +
                       "found next to '" + base->path() + "'; give --tokenizer");
    data::Tokenizer tok(tokenizer_path);
    bos = tok.bos_id();
    auto encode = [&](const std::vector<std::string>& ps) {
      TokenLists out;
      for (const auto& p : ps) {
        std::vector<int32_t> ids{bos};
        const auto t = tok.encode(p);
        ids.insert(ids.end(), t.begin(), t.end());
        out.push_back(std::move(ids));
      }
      return out;
    };
    for (size_t i = 0; i < cfg.experts.size(); ++i)
      prompts[i] = {encode(cfg.experts[i].positive_prompts),
                    encode(cfg.experts[i].negative_prompts)};
  }
  const torch::Tensor gates = gate_vectors(cfg.gate_mode, *base, prompts, bos, comm, opt.seed);
  for (const auto& [layer, cond] : ill_conditioned_layers(gates)) {
    char msg[200];
    std::snprintf(msg, sizeof msg,
                  "layer %lld: router condition number %.1f > 5: the experts' prompts may be "
                  "too similar, some experts will be under-used",
                  static_cast<long long>(layer), cond);
    log::warn0(msg);
  }
  rep.gate_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  // The MoE model: the base's shape with E experts.
  ckpt::ModelDirInfo info;
  info.config = base->config();
  info.config.num_local_experts = int64_t(cfg.experts.size());
  info.config.num_experts_per_tok = cfg.experts_per_token;
  // mergekit's dtype: every tensor of the merged model is stored in it.
  info.source_dtype = cfg.stored_dtype();
  info.dtype_of = [d = info.source_dtype](const std::string&) { return d; };
  info.provenance["merge_config"] = cfg.to_json();
  info.provenance["base_model"] = {{"path", base->path()}, {"checksum", base->checksum()}};
  for (const auto& e : cfg.experts)
    info.provenance["experts"].push_back(
        {{"path", e.source_model}, {"checksum", sources.at(e.source_model)->checksum()}});
  info.provenance["tokenizer"] = tokenizer_path;
  info.provenance["seed"] = opt.seed;

  std::map<std::string, const model::ParamSpec*> spec_of;
  const auto layout = model::param_layout(info.config);
  for (const auto& s : layout) spec_of[s.name] = &s;
  auto get = [&](const std::string& name) -> torch::Tensor {
    const auto& s = *spec_of.at(name);
    if (name.find(".block_sparse_moe.gate.") != std::string::npos)
      return gates[s.layer].to(torch::kFloat);
    if (s.expert < 0) return base->load(name);
    const auto& ex = cfg.experts[size_t(s.expert)];
    torch::Tensor w = sources.at(ex.source_model)->load(dense_name(s));
    if (ex.noise_scale != 0) {
      // Seeded per tensor, so the result does not depend on which rank writes it.
      auto gen =
          at::detail::createCPUGenerator(opt.seed * 1000003ULL + std::hash<std::string>{}(name));
      w = w + at::normal(0.0, ex.noise_scale, w.sizes(), gen, w.options());
    }
    if (ex.residual_scale && name.find(".down_proj.") != std::string::npos)
      w = w * *ex.residual_scale;
    return w;
  };
  const auto t1 = Clock::now();
  std::vector<std::pair<std::string, std::string>> extras;
  if (!tokenizer_path.empty()) extras.push_back({tokenizer_path, "tokenizer.model"});
  rep.checksum = ckpt::write_model_dir(opt.out_dir, info, get, comm, extras);
  rep.write_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  rep.experts = int64_t(cfg.experts.size());
  rep.layers = info.config.num_hidden_layers;
  rep.tensors = int64_t(layout.size());
  return rep;
}

}  // namespace mofe::merge
