#include "mofe/model/recompute.h"

#include <ATen/core/Generator.h>

namespace mofe::model {

namespace {

// What backward needs besides the saved inputs: the function and the RNG states it ran with.
struct Region : torch::CustomClassHolder {
  RegionFn fn;
  size_t n_inputs = 0;
  std::vector<torch::Tensor> params;  // the module's own tensors: the rerun reads these
  torch::Device device = torch::kCPU;
  torch::Tensor cpu_rng, device_rng;  // generator states before the first run
  explicit Region(RegionFn f) : fn(std::move(f)) {}
};

at::Generator device_generator(const torch::Device& d) {
  return at::globalContext().defaultGenerator(d);
}

torch::Tensor rng_state(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(at::Generator gen, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// Runs fn with the RNG state of the first run, then puts back the state the caller had.
std::vector<torch::Tensor> rerun(Region& r, const std::vector<torch::Tensor>& inputs) {
  auto cpu = at::detail::getDefaultCPUGenerator();
  const auto cpu_now = rng_state(cpu);
  set_rng_state(cpu, r.cpu_rng);
  torch::Tensor dev_now;
  if (r.device_rng.defined()) {
    dev_now = rng_state(device_generator(r.device));
    set_rng_state(device_generator(r.device), r.device_rng);
  }
  auto out = r.fn(inputs);
  set_rng_state(cpu, cpu_now);
  if (dev_now.defined()) set_rng_state(device_generator(r.device), dev_now);
  return out;
}

struct RecomputeFn : torch::autograd::Function<RecomputeFn> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                torch::TensorList inputs, torch::TensorList params,
                                                c10::intrusive_ptr<Region> region) {
    region->n_inputs = inputs.size();
    region->params.assign(params.begin(), params.end());
    region->device = inputs.empty() ? torch::Device(torch::kCPU) : inputs[0].device();
    region->cpu_rng = rng_state(at::detail::getDefaultCPUGenerator());
    if (region->device.is_cuda()) region->device_rng = rng_state(device_generator(region->device));
    auto out = region->fn(std::vector<torch::Tensor>(inputs.begin(), inputs.end()));
    ctx->save_for_backward(std::vector<torch::Tensor>(inputs.begin(), inputs.end()));
    ctx->saved_data["region"] = c10::IValue::make_capsule(std::move(region));
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto region = c10::static_intrusive_pointer_cast<Region>(ctx->saved_data["region"].toCapsule());
    const auto saved = ctx->get_saved_variables();
    const size_t ni = region->n_inputs, np = region->params.size();
    // Fresh leaves for the inputs: the rerun builds its own small graph from them.
    std::vector<torch::Tensor> inputs, wrt;
    std::vector<size_t> wrt_slot;  // position of each differentiated tensor among ni + np
    for (size_t i = 0; i < ni; ++i) {
      auto x = saved[i].detach();
      if (ctx->needs_input_grad(i) && x.is_floating_point()) {
        x.requires_grad_(true);
        wrt.push_back(x);
        wrt_slot.push_back(i);
      }
      inputs.push_back(x);
    }
    for (size_t j = 0; j < np; ++j)
      if (ctx->needs_input_grad(ni + j)) {
        wrt.push_back(region->params[j]);
        wrt_slot.push_back(ni + j);
      }
    torch::autograd::variable_list result(ni + np + 1);
    if (wrt.empty()) return result;

    torch::AutoGradMode grad_on(true);
    auto out = rerun(*region, inputs);
    std::vector<torch::Tensor> outs, gouts;
    for (size_t k = 0; k < out.size() && k < grads.size(); ++k)
      if (grads[k].defined() && out[k].requires_grad()) {
        outs.push_back(out[k]);
        gouts.push_back(grads[k]);
      }
    if (outs.empty()) return result;
    auto g = torch::autograd::grad(outs, wrt, gouts, /*retain_graph=*/false,
                                   /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t k = 0; k < wrt.size(); ++k) result[wrt_slot[k]] = g[k];
    return result;
  }
};

}  // namespace

std::vector<torch::Tensor> recompute(const RegionFn& fn, const std::vector<torch::Tensor>& inputs,
                                     const std::vector<torch::Tensor>& params) {
  bool any = false;
  for (const auto& t : inputs) any = any || t.requires_grad();
  for (const auto& t : params) any = any || t.requires_grad();
  if (!torch::GradMode::is_enabled() || !any) return fn(inputs);
  // As TensorLists (not vectors): only then does autograd count each tensor as an input.
  return RecomputeFn::apply(torch::TensorList(inputs), torch::TensorList(params),
                            c10::make_intrusive<Region>(fn));
}

std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& module) {
  std::vector<torch::Tensor> out;
  for (const auto& p : module.parameters(/*recurse=*/true))
    if (p.requires_grad()) out.push_back(p);
  return out;
}

}  // namespace mofe::model
