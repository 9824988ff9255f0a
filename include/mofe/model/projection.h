// Projection: the one linear map of the model (q/k/v/o, the dense MLP's and every expert's
// gate/up/down, the router, the LM head): y = W x, no bias, W [out, in] registered as
// "weight" like torch::nn::Linear (same initialisation, same arithmetic: torch::linear), so
// names and numbers are those of HF Llama/Mixtral. Two things a Linear cannot do:
//   - W may be stored compressed when frozen (bf16 or NF4, quant/frozen_weight.h): then it is
//     no parameter, and the matmul dequantises it on the fly;
//   - it may carry an adapter (model/adapter.h), whose output it returns instead.
// What each projection gets is decided per role by BuildOptions::plan when the model is built.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "mofe/model/adapter.h"
#include "mofe/model/param_table.h"
#include "mofe/quant/frozen_weight.h"

namespace mofe::model {

struct ProjectionPlan {
  quant::WeightStorage storage = quant::WeightStorage::kParam;
  bool double_quant = true;  // NF4 only
  AdapterSpec adapter;
};

// How the model is built, beyond its shape (config::ModelConfig).
struct BuildOptions {
  torch::ScalarType dtype = torch::kFloat;  // compute dtype: compressed weights dequantise to it
  // Per projection, by role and leaf module name ("q_proj", "gate_proj", "gate", "lm_head"):
  // storage and adapter. Unset: an ordinary parameter, no adapter.
  std::function<ProjectionPlan(const ParamRole& role, const std::string& leaf)> plan;
  AdapterFactory make_adapter;  // required when a plan asks for an adapter
  PerftSpec perft;              // PERFT adapters beside every MoE block (none by default)

  ProjectionPlan plan_for(const ParamRole& role, const std::string& leaf) const {
    return plan ? plan(role, leaf) : ProjectionPlan{};
  }
};

class ProjectionImpl : public torch::nn::Module, public HasRoles {
 public:
  ProjectionImpl(int64_t in, int64_t out, const ParamRole& role, const ProjectionPlan& plan = {},
                 const BuildOptions& build = {});
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor base_forward(const torch::Tensor& x);  // W x, without the adapter

  torch::Tensor dense_weight() const;  // W in the compute dtype (dequantised copy if stored)
  void set_weight(const torch::Tensor& w);
  Adapter* adapter() const { return adapter_.get(); }
  // Initialises the adapter (if any) from the current W; gen draws its random part.
  void reset_adapter(at::Generator& gen);
  const ParamRole& role() const { return role_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  torch::Tensor weight;                         // [out, in]; undefined when stored compressed
  std::shared_ptr<quant::FrozenWeight> frozen;  // the compressed store, or null

  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;

 private:
  int64_t in_, out_;
  ParamRole role_;
  std::unique_ptr<Adapter> adapter_;
};
TORCH_MODULE(Projection);

}  // namespace mofe::model
