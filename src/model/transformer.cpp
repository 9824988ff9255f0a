#include "mofe/model/transformer.h"

#include <ATen/CPUGeneratorImpl.h>

#include "mofe/model/precision.h"

namespace mofe::model {

TransformerImpl::TransformerImpl(const config::ModelConfig& cfg, const dist::ProcessGroups& groups,
                                 dist::CommBackend& backend, const BuildOptions& build)
    : cfg_(cfg) {
  embed_tokens =
      register_module("embed_tokens", torch::nn::Embedding(cfg.vocab_size, cfg.hidden_size));
  declare("embed_tokens.weight", ParamRole{ParamKind::kEmbedding});
  layer_list_ = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    layers_.push_back(DecoderLayer(cfg, groups, backend, i, build));
    layer_list_->push_back(layers_.back());
  }
  norm = register_module("norm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
  if (!cfg.tie_word_embeddings) {
    const ParamRole head{ParamKind::kHead};
    lm_head = register_module("lm_head", Projection(cfg.hidden_size, cfg.vocab_size, head,
                                                    build.plan_for(head, "lm_head"), build));
  }
  table_ = collect_param_table(*this);
}

torch::Tensor TransformerImpl::head(const torch::Tensor& h) {
  return lm_head ? lm_head->forward(h) : torch::matmul(h, like(embed_tokens->weight, h).t());
}

torch::Tensor TransformerImpl::embed(const torch::Tensor& input_ids_BS) {
  auto h = embed_tokens(input_ids_BS);
  return compute_dtype_ ? h.to(*compute_dtype_) : h;
}

void TransformerImpl::set_compute_dtype(torch::ScalarType dtype) {
  compute_dtype_ = dtype;
  for (const auto& m : modules(/*include_self=*/false))
    if (auto* proj = dynamic_cast<ProjectionImpl*>(m.get()); proj && proj->frozen)
      proj->frozen->set_compute_dtype(dtype);
}

void TransformerImpl::set_recompute(config::Recompute level) {
  for (auto& layer : layers_) layer->set_recompute(level);
}

ModelOutput TransformerImpl::forward_packed(const torch::Tensor& input_ids_BS,
                                            const AttentionLayout& layout,
                                            const torch::Tensor& rows_R) {
  return run(input_ids_BS, false, &layout, rows_R);
}

ModelOutput TransformerImpl::forward(const torch::Tensor& input_ids_BS, bool with_logits) {
  return run(input_ids_BS, with_logits, nullptr);
}

ModelOutput TransformerImpl::run(const torch::Tensor& input_ids_BS, bool with_logits,
                                 const AttentionLayout* layout, const torch::Tensor& rows_R) {
  ModelOutput out;
  auto h = embed(input_ids_BS);
  std::vector<torch::Tensor> aux, adapter_aux;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const bool some_rows = rows_R.defined() && l + 1 == layers_.size();
    LayerOutput lo = some_rows ? layers_[l]->forward_rows(h, *layout, rows_R)
                               : layers_[l]->forward(h, {}, layout);
    h = lo.h_BSD;
    if (lo.aux_loss.defined()) {
      aux.push_back(lo.aux_loss);
      out.rows_per_expert.push_back(std::move(lo.global_rows_per_expert));
      if (lo.topk_ids_BSK.defined()) out.topk_ids_BSK.push_back(lo.topk_ids_BSK);
    }
    if (lo.adapter_aux_loss.defined()) {
      adapter_aux.push_back(lo.adapter_aux_loss);
      out.rows_per_adapter.push_back(std::move(lo.global_rows_per_adapter));
      if (lo.adapter_topk_ids_BSK.defined())
        out.adapter_topk_ids_BSK.push_back(lo.adapter_topk_ids_BSK);
    }
  }
  h = norm(h);
  (rows_R.defined() ? out.h_RD : out.h_BSD) = h;
  if (with_logits) out.logits_BSV = head(h);
  auto mean = [&](const std::vector<torch::Tensor>& v) {
    return v.empty() ? torch::zeros({}, h.options().dtype(stats_dtype(h))) : torch::stack(v).mean();
  };
  out.aux_loss = mean(aux);
  out.adapter_aux_loss = mean(adapter_aux);
  return out;
}

std::vector<torch::Tensor> TransformerImpl::layer_inputs(const torch::Tensor& input_ids_BS,
                                                         const torch::Tensor& key_mask_BS) {
  std::vector<torch::Tensor> out;
  auto h = embed(input_ids_BS);
  for (size_t l = 0; l < layers_.size(); ++l) {
    out.push_back(h);
    if (l + 1 < layers_.size()) h = layers_[l](h, key_mask_BS).h_BSD;
  }
  return out;
}

namespace {
uint64_t fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}
bool is_norm_weight(const std::string& name) {
  return name.find("norm.weight") != std::string::npos;
}
}  // namespace

torch::Tensor init_parameter(const std::string& name, at::IntArrayRef shape, uint64_t seed) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  if (is_norm_weight(name)) return torch::ones(shape, f64);
  auto gen = at::detail::createCPUGenerator(fnv1a(name, seed));
  // Drawn in float64 on the CPU so the values do not depend on the model's dtype or device.
  return at::normal(0.0, 0.02, shape, gen, f64);
}

void init_weights(TransformerImpl& model, uint64_t seed) {
  for (const auto& e : model.params().entries())
    if (!e.role.is_adapter()) e.assign(init_parameter(e.name, e.shape(), seed));
}

void init_weights(torch::nn::Module& module, uint64_t seed) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters()) {
    torch::Tensor t = p.value();
    t.copy_(init_parameter(p.key(), t.sizes(), seed));
  }
}

void init_adapters(TransformerImpl& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto* seeded = dynamic_cast<SeededAdapter*>(item.value().get())) {
      auto gen = at::detail::createCPUGenerator(fnv1a(item.key() + "#adapter", seed));
      seeded->reset(gen);
      continue;
    }
    auto* proj = dynamic_cast<ProjectionImpl*>(item.value().get());
    if (!proj || !proj->adapter()) continue;
    auto gen = at::detail::createCPUGenerator(fnv1a(item.key() + ".weight#adapter", seed));
    proj->reset_adapter(gen);
  }
}

}  // namespace mofe::model
