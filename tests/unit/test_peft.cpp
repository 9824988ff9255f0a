// The PEFT baselines on one process: NF4 against a reference written here from bitsandbytes'
// published code book and algorithm; LoRA and DoRA against straightforward implementations of
// peft's formulas (float64); adapters at initialisation leave the model's function exactly
// unchanged; frozen means frozen; trainable counts match closed forms and the paper; peft's
// adapter format round-trips and merging matches the unmerged model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "mofe/config/options.h"
#include "mofe/core/error.h"
#include "mofe/dist/backend.h"
#include "mofe/model/lm_loss.h"
#include "mofe/model/param_count.h"
#include "mofe/peft/adapter_io.h"
#include "mofe/peft/dora.h"
#include "mofe/peft/layout.h"
#include "mofe/peft/merged_source.h"
#include "mofe/peft/policy.h"
#include "mofe/quant/frozen_weight.h"
#include "mofe/train/memory_plan.h"
#include "mofe/train/trainer.h"
#include "support/tiny.h"

using namespace mofe;
using testing::HasSubstr;

namespace {

// ---- NF4 reference -----------------------------------------------------------------------

// bitsandbytes' get_4bit_type("nf4"), as published.
const float kNf4[16] = {-1.0f,
                        -0.6961928009986877f,
                        -0.5250730514526367f,
                        -0.39491748809814453f,
                        -0.28444138169288635f,
                        -0.18477343022823334f,
                        -0.09105003625154495f,
                        0.0f,
                        0.07958029955625534f,
                        0.16093020141124725f,
                        0.24611230194568634f,
                        0.33791524171829224f,
                        0.44070982933044434f,
                        0.5626170039176941f,
                        0.7229568362236023f,
                        1.0f};

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for exponent i the means
// of 2^i + 1 points of linspace(0.1, 1), times 10^(i-6), with both signs; plus 0 and 1.
std::vector<float> reference_dynamic_map() {
  std::vector<float> v;
  for (int i = 0; i < 7; ++i) {
    const int n = (1 << i) + 1;
    std::vector<float> lin(n);
    const float step = (1.0f - 0.1f) / float(n - 1);
    for (int k = 0; k < n; ++k)
      lin[k] = k < n / 2 ? 0.1f + step * float(k) : 1.0f - step * float(n - 1 - k);
    const float scale = float(std::pow(10.0, i - 6));
    for (int k = 0; k + 1 < n; ++k) {
      const float mean = (lin[k] + lin[k + 1]) / 2.0f;
      v.push_back(scale * mean);
      v.push_back(-(scale * mean));
    }
  }
  v.push_back(0.0f);
  v.push_back(1.0f);
  std::sort(v.begin(), v.end());
  return v;
}

// Index of the code value a scaled element goes to: the first code whose upper midpoint is not
// below it (torch.bucketize over the midpoints; a tie goes to the lower code).
int nearest(float v, const float* code, int n) {
  for (int i = 0; i + 1 < n; ++i)
    if (v <= (code[i] + code[i + 1]) / 2.0f) return i;
  return n - 1;
}

struct RefQuant {
  std::vector<uint8_t> q;  // one code per element
  std::vector<float> absmax;
};

// Blockwise absmax quantisation as bitsandbytes' reference backend: full blocks multiply by
// 1 / absmax, a short last block divides; clamp to [-1, 1]; nearest code.
RefQuant reference_blockwise(const std::vector<float>& x, int64_t block, const float* code,
                             int n_code) {
  RefQuant r;
  const int64_t n = int64_t(x.size()), full = n - n % block;
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    const int64_t b1 = std::min(n, b0 + block);
    float am = 0;
    for (int64_t i = b0; i < b1; ++i) am = std::max(am, std::fabs(x[i]));
    r.absmax.push_back(am);
    const float c = std::max(am, 1e-38f);
    for (int64_t i = b0; i < b1; ++i) {
      float s = b0 < full ? x[i] * (1.0f / c) : x[i] / c;
      s = std::min(1.0f, std::max(-1.0f, s));
      r.q.push_back(uint8_t(nearest(s, code, n_code)));
    }
  }
  return r;
}

torch::Tensor known_tensor(int64_t n, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto t = at::normal(0.0, 0.05, {n}, gen, torch::TensorOptions().dtype(torch::kFloat));
  // Edge values: exact zeros, a whole zero block, a huge outlier, values on code points.
  t[3] = 0.0f;
  t.slice(0, 128, 192).zero_();
  t[200] = 7.5f;
  t[201] = -7.5f * 0.5626170039176941f;
  return t;
}

void check_against_reference(int64_t n, bool double_quant) {
  auto w = known_tensor(n, 11);
  auto q = quant::nf4_quantize(w, double_quant);
  std::vector<float> x(w.data_ptr<float>(), w.data_ptr<float>() + n);
  auto ref = reference_blockwise(x, 64, kNf4, 16);
  // Packing: element 2i in the high nibble, 2i + 1 in the low one; an odd tail pads with the
  // code of 0.0 (index 7).
  ASSERT_EQ(q.packed.numel(), (n + 1) / 2);
  const uint8_t* p = q.packed.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t got = i % 2 == 0 ? p[i / 2] >> 4 : p[i / 2] & 0xF;
    ASSERT_EQ(int(got), int(ref.q[i])) << "element " << i;
  }
  if (n % 2) {
    EXPECT_EQ(p[n / 2] & 0xF, 7);
  }
  std::vector<float> absmax = ref.absmax;
  if (double_quant) {
    double sum = 0;
    for (float a : ref.absmax) sum += a;
    const float offset = float(sum / double(ref.absmax.size()));
    EXPECT_EQ(q.offset, offset);
    std::vector<float> centred;
    for (float a : ref.absmax) centred.push_back(a - offset);
    const auto dyn = reference_dynamic_map();
    ASSERT_EQ(dyn.size(), 256u);
    auto ref2 = reference_blockwise(centred, 256, dyn.data(), 256);
    ASSERT_EQ(q.absmax_q.numel(), int64_t(ref2.q.size()));
    for (size_t b = 0; b < ref2.q.size(); ++b)
      ASSERT_EQ(int(q.absmax_q.data_ptr<uint8_t>()[b]), int(ref2.q[b])) << "scale " << b;
    ASSERT_EQ(q.absmax2.numel(), int64_t(ref2.absmax.size()));
    for (size_t b = 0; b < ref2.absmax.size(); ++b)
      EXPECT_EQ(q.absmax2.data_ptr<float>()[b], ref2.absmax[b]);
    for (size_t b = 0; b < absmax.size(); ++b)
      absmax[b] = dyn[ref2.q[b]] * ref2.absmax[b / 256] + offset;  // dequantise, then + offset
  } else {
    ASSERT_EQ(q.absmax.numel(), int64_t(absmax.size()));
    for (size_t b = 0; b < absmax.size(); ++b) EXPECT_EQ(q.absmax.data_ptr<float>()[b], absmax[b]);
  }
  auto deq = quant::nf4_dequantize(q, torch::kFloat);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(deq[i].item<float>(), kNf4[ref.q[i]] * absmax[i / 64]) << "element " << i;
}

// ---- models ------------------------------------------------------------------------------

struct Built {
  dist::ProcessGroups groups;
  std::unique_ptr<dist::CommBackend> backend;
  model::Transformer model{nullptr};
};

torch::ScalarType dtype_of(const config::RunConfig& c) {
  return c.runtime.dtype == "float64" ? torch::kFloat64 : torch::kFloat;
}

// The model of `c` with seeded weights (seed 7) and adapters initialised as peft does;
// without_adapters: the same storage of every weight, no adapter anywhere.
std::unique_ptr<Built> build(const config::RunConfig& c, bool without_adapters = false) {
  auto b = std::make_unique<Built>();
  b->groups = fixtures::solo_groups(c.model.num_local_experts);
  b->backend = dist::make_backend("mpi", torch::kCPU);
  auto opts = peft::build_options(c.train, c.peft, c.model, dtype_of(c));
  if (without_adapters) {
    auto inner = opts.plan;
    opts.plan = [inner](const model::ParamRole& r, const std::string& leaf) {
      auto p = inner(r, leaf);
      p.adapter = {};
      return p;
    };
  }
  b->model = model::Transformer(c.model, b->groups, *b->backend, opts);
  b->model->to(dtype_of(c));
  model::init_weights(*b->model, 7);
  model::init_adapters(*b->model, 7);
  return b;
}

config::RunConfig peft_config(config::TrainMode mode, int64_t experts,
                              std::vector<std::string> targets, const std::string& dtype) {
  auto c = fixtures::tiny_config(experts, dtype);
  c.train.mode = mode;
  c.peft.lora_targets = std::move(targets);
  c.peft.lora_alpha = 16;
  return c;
}

const std::vector<std::string> kAllMoe = {"q_proj", "k_proj", "v_proj", "o_proj", "w1",
                                          "w2",     "w3",     "gate",   "lm_head"};
const std::vector<std::string> kAllDense = {"q_proj",    "k_proj",  "v_proj",    "o_proj",
                                            "gate_proj", "up_proj", "down_proj", "lm_head"};

// Moves every adapter away from its initial state: B (and DoRA's magnitude) drawn per name.
void perturb_adapters(model::TransformerImpl& m, double scale = 0.3) {
  for (const auto& e : m.params().entries()) {
    if (!e.role.is_adapter()) continue;
    auto v = model::init_parameter(e.name + "#perturb", e.shape(), 5) * (scale / 0.02);
    if (e.name.find("lora_magnitude_vector") != std::string::npos) v = e.value() * (1 + v);
    if (e.name.find("lora_A") == std::string::npos) e.assign(v);
  }
}

torch::Tensor logits(model::TransformerImpl& m, const torch::Tensor& ids) {
  torch::NoGradGuard no_grad;
  return m.forward(ids).logits_BSV;
}

// A model's table as a model source (what a checkpoint gives an export).
class TableSource : public io::ModelSource {
 public:
  TableSource(model::TransformerImpl& m, nlohmann::json adapters)
      : m_(m), adapters_(std::move(adapters)) {}
  const config::ModelConfig& config() const override { return m_.config(); }
  std::vector<std::string> names() const override {
    std::vector<std::string> n;
    for (const auto& e : m_.params().entries()) n.push_back(e.name);
    return n;
  }
  bool has(const std::string& n) const override { return m_.params().find(n) != nullptr; }
  torch::Tensor load(const std::string& n) const override {
    return m_.params().at(n).value().clone();
  }
  std::string kind() const override { return "test"; }
  const std::string& path() const override { return path_; }
  std::string checksum() const override { return "test"; }
  std::string source_dtype() const override { return "F32"; }
  nlohmann::json adapters() const override { return adapters_; }

 private:
  model::TransformerImpl& m_;
  nlohmann::json adapters_;
  std::string path_ = "table";
};

}  // namespace

// ---- NF4 ---------------------------------------------------------------------------------

TEST(Nf4, CodeBookIsBitsandbytes) {
  for (int i = 0; i < 16; ++i) EXPECT_EQ(quant::nf4_code()[size_t(i)], kNf4[i]) << i;
  const auto dyn = reference_dynamic_map();
  for (int i = 0; i < 256; ++i) EXPECT_EQ(quant::dynamic_code()[size_t(i)], dyn[size_t(i)]) << i;
}

TEST(Nf4, QuantiseDequantiseEqualsReferenceBitwise) {
  check_against_reference(64 * 5, false);        // whole blocks
  check_against_reference(64 * 5 + 13, false);   // a short last block, odd: a padding nibble
  check_against_reference(64 * 300 + 13, true);  // double quantisation over two scale blocks
  check_against_reference(64 * 256, true);
}

TEST(Nf4, StorageCostsAtMostPointSixBytesPerParameter) {
  for (int64_t n : {int64_t(64), int64_t(4096), int64_t(2048) * 5632})
    for (bool dq : {false, true}) {
      auto q = quant::nf4_quantize(torch::randn({n}), dq);
      EXPECT_EQ(q.bytes(), quant::nf4_bytes(n, dq));
      // One lone block with double quantisation pays 8 bytes of second-level scale and offset
      // for 64 elements (0.64 B each); from a few blocks on it is below 0.52.
      if (n == 64 && dq) continue;
      EXPECT_LE(double(q.bytes()) / double(n), 0.6) << n << (dq ? " double-quantised" : "");
    }
  EXPECT_LT(double(quant::nf4_bytes(4096, true)) / 4096, 0.52);
  // A QLoRA model: every weight it stores in NF4 costs at most 0.6 bytes per parameter (the
  // LM head, embeddings and norms stay in the compute dtype, as bitsandbytes keeps them).
  auto c = peft_config(config::TrainMode::kQlora, 4, {"q_proj", "v_proj"}, "float32");
  c.model.hidden_size = 128, c.model.intermediate_size = 256;
  auto b = build(c);
  int64_t nf4_numel = 0, nf4_bytes = 0, quantised = 0;
  for (const auto& e : b->model->params().entries())
    if (e.storage() == "nf4") nf4_numel += e.numel(), nf4_bytes += e.bytes(), ++quantised;
  EXPECT_EQ(quantised, 4 * 2 + 2 * (4 * 3 + 1));  // k, o, every expert's 3 and the router
  EXPECT_LE(double(nf4_bytes) / double(nf4_numel), 0.6);
}

TEST(Nf4, FrozenLinearIsTheMatmulWithTheDequantisedWeightBothWays) {
  // 4096 x 2048 = 8M elements: two chunks of rows, so the on-the-fly path is exercised.
  auto w = torch::randn({4096, 2048}) * 0.02;
  auto fw = std::make_shared<quant::FrozenWeight>(
      quant::WeightStorage::kNf4, std::vector<int64_t>{4096, 2048}, torch::kFloat, true);
  fw->assign(w);
  ASSERT_LT(fw->rows_per_chunk(), 4096);
  auto dense = fw->dequantize();
  auto x = torch::randn({3, 5, 2048}).set_requires_grad(true);
  auto y = quant::frozen_linear(x, fw);
  auto g = torch::randn({3, 5, 4096});
  y.backward(g);
  EXPECT_TRUE(torch::allclose(y, torch::matmul(x.detach(), dense.t()), 1e-5, 1e-4));
  EXPECT_TRUE(torch::allclose(x.grad(), torch::matmul(g, dense), 1e-5, 1e-4));
  auto bf = std::make_shared<quant::FrozenWeight>(
      quant::WeightStorage::kBf16, std::vector<int64_t>{64, 32}, torch::kDouble, false);
  auto w2 = torch::randn({64, 32}, torch::kDouble);
  bf->assign(w2);
  EXPECT_TRUE(torch::equal(bf->dequantize(), w2.to(torch::kBFloat16).to(torch::kDouble)));
  EXPECT_EQ(bf->bytes(), 64 * 32 * 2);
}

TEST(Nf4, AnyShapeIsStoredAsBitsandbytesDoesNoPaddingRefusal) {
  // 37 x 29 = 1073 elements: blocks run over the flattened weight, the last one short with its
  // own absmax, an odd count padded by one nibble. Stored and multiplied like any other.
  auto w = torch::randn({37, 29}, torch::kDouble);
  quant::FrozenWeight fw(quant::WeightStorage::kNf4, {37, 29}, torch::kDouble, true);
  fw.assign(w);
  EXPECT_EQ(fw.nf4().blocks(), 17);
  auto deq = fw.dequantize();
  EXPECT_TRUE(
      torch::equal(deq, quant::nf4_dequantize(quant::nf4_quantize(w, true), torch::kDouble)));
  EXPECT_LT((deq - w).abs().max().item<double>(), 0.2 * w.abs().max().item<double>());
}

TEST(Peft, FusedHeadLossEqualsTheLossOfTheLogits) {
  // head_loss_sum(h, W) = lm_loss_sum(h W^T), and its input gradient (float64).
  torch::manual_seed(9);
  auto h = torch::randn({2, 300, 16}, torch::kDouble).set_requires_grad(true);
  auto h2 = h.detach().clone().set_requires_grad(true);
  auto W = torch::randn({50, 16}, torch::kDouble);
  auto targets = torch::randint(0, 50, {2, 300}, torch::kLong);
  targets.index_put_({0, torch::indexing::Slice(0, 7)}, -100);  // ignored positions
  auto a = model::head_loss_sum(h, W, targets);
  auto b = model::lm_loss_sum(torch::matmul(h2, W.t()), targets);
  EXPECT_NEAR(a.item<double>(), b.item<double>(), 1e-10 * std::abs(b.item<double>()));
  a.backward();
  b.backward();
  EXPECT_LT(fixtures::rel_err(h.grad(), h2.grad()), 1e-12);
}

// ---- LoRA and DoRA against peft's formulas -----------------------------------------------

TEST(Peft, LoraAndDoraProjectionsMatchThePeftFormulas) {
  torch::manual_seed(3);
  const int64_t in = 24, out = 40, r = 4;
  const double scaling = 16.0 / r;
  for (const std::string method : {"lora", "dora"})
    for (auto storage : {quant::WeightStorage::kParam, quant::WeightStorage::kNf4}) {
      model::ProjectionPlan plan;
      plan.storage = storage;
      plan.adapter = {method, r, scaling, 0.0};
      model::BuildOptions build;
      build.dtype = torch::kFloat64;
      build.make_adapter = peft::make_adapter;
      model::Projection p(in, out, model::ParamRole(model::ParamKind::kAttention, 0), plan, build);
      p->to(torch::kFloat64);
      auto W = torch::randn({out, in}, torch::kFloat64) * 0.2;
      p->set_weight(W);
      const auto Wd = p->dense_weight();  // the weight the projection computes with
      auto gen = at::detail::createCPUGenerator(1);
      p->reset_adapter(gen);
      auto params = p->named_parameters();
      {
        torch::NoGradGuard ng;
        params["lora_B.weight"].copy_(torch::randn({out, r}, torch::kFloat64));
        if (method == "dora")
          params["lora_magnitude_vector"].mul_(1 + 0.1 * torch::randn({out}, torch::kFloat64));
      }

      // Reference: leaf copies of the adapter tensors, the formulas written out.
      auto A = params["lora_A.weight"].detach().clone().set_requires_grad(true);
      auto B = params["lora_B.weight"].detach().clone().set_requires_grad(true);
      auto x = torch::randn({7, in}, torch::kFloat64).set_requires_grad(true);
      auto xr = x.detach().clone().set_requires_grad(true);
      torch::Tensor m, y_ref;
      auto lora = torch::matmul(torch::matmul(xr, A.t()), B.t()) * scaling;
      if (method == "lora") {
        y_ref = torch::matmul(xr, Wd.t()) + lora;
      } else {
        m = params["lora_magnitude_vector"].detach().clone().set_requires_grad(true);
        auto V = Wd + scaling * torch::matmul(B, A).detach();
        auto norm = V.pow(2).sum(1).sqrt().detach();  // constant in backward
        y_ref = (m / norm) * (torch::matmul(xr, Wd.t()) + lora);
      }
      auto y = p(x);
      auto g = torch::randn_like(y);
      y.backward(g);
      y_ref.backward(g);
      const std::string what = method + (storage == quant::WeightStorage::kNf4 ? " on nf4" : "");
      EXPECT_LT(fixtures::rel_err(y, y_ref), 1e-10) << what;
      EXPECT_LT(fixtures::rel_err(x.grad(), xr.grad()), 1e-10) << what;
      EXPECT_LT(fixtures::rel_err(params["lora_A.weight"].grad(), A.grad()), 1e-10) << what;
      EXPECT_LT(fixtures::rel_err(params["lora_B.weight"].grad(), B.grad()), 1e-10) << what;
      if (method == "dora") {
        EXPECT_LT(fixtures::rel_err(params["lora_magnitude_vector"].grad(), m.grad()), 1e-10);
      }
      // Folded into the weight, the same function.
      auto merged = p->adapter()->merged(Wd);
      EXPECT_LT(fixtures::rel_err(torch::matmul(x.detach(), merged.t()), y.detach()), 1e-10)
          << what;
    }
}

TEST(Peft, ExpertAndRouterAdaptersMatchAPerTokenReference) {
  // DoRA on every expert's w1/w2/w3 and on the router: the MoE layer against a loop over
  // tokens and their top-k experts, forward and adapter gradients, float64.
  auto c = peft_config(config::TrainMode::kDora, 4, {"w1", "w2", "w3", "gate"}, "float64");
  auto groups = fixtures::solo_groups(4);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  moe::MoeLayer layer(c.model, groups, *backend, 0,
                      peft::build_options(c.train, c.peft, c.model, torch::kFloat64));
  layer->to(torch::kFloat64);
  torch::manual_seed(5);
  {
    torch::NoGradGuard ng;
    for (auto& p : layer->named_parameters()) {
      const auto& k = p.key();
      if (k.find("lora_magnitude_vector") != std::string::npos)
        p.value().copy_(1 + 0.2 * torch::rand_like(p.value()));
      else
        p.value().copy_(torch::randn_like(p.value()) * 0.2);
    }
  }
  const double s = c.peft.scaling();
  // Reference projection: DoRA with leaf tensors taken from the layer's parameters.
  std::map<std::string, torch::Tensor> leaf;
  for (auto& p : layer->named_parameters())
    leaf[p.key()] = p.value().detach().clone().set_requires_grad(true);
  auto proj = [&](const std::string& prefix, const torch::Tensor& x) {
    auto W = leaf[prefix + ".weight"].detach();
    auto A = leaf[prefix + ".lora_A.weight"], B = leaf[prefix + ".lora_B.weight"];
    auto m = leaf[prefix + ".lora_magnitude_vector"];
    auto norm = (W + s * torch::matmul(B, A).detach()).pow(2).sum(1).sqrt().detach();
    return (m / norm) *
           (torch::matmul(x, W.t()) + torch::matmul(torch::matmul(x, A.t()), B.t()) * s);
  };
  auto x = torch::randn({6, c.model.hidden_size}, torch::kFloat64);
  auto probs = torch::softmax(proj("gate", x), -1);
  auto [top_w, top_i] = probs.topk(c.model.num_experts_per_tok, -1);
  top_w = top_w / top_w.sum(-1, true);
  std::vector<torch::Tensor> rows;
  for (int64_t t = 0; t < x.size(0); ++t) {
    auto xt = x[t].unsqueeze(0), yt = torch::zeros_like(xt);
    for (int64_t k = 0; k < c.model.num_experts_per_tok; ++k) {
      const std::string e = "experts." + std::to_string(top_i[t][k].item<int64_t>());
      auto h = torch::silu(proj(e + ".gate_proj", xt)) * proj(e + ".up_proj", xt);
      yt = yt + top_w[t][k] * proj(e + ".down_proj", h);
    }
    rows.push_back(yt);
  }
  auto y_ref = torch::cat(rows);
  auto y = layer(x).y_TD;
  EXPECT_LT(fixtures::rel_err(y, y_ref), 1e-10);
  auto g = torch::randn_like(y);
  y.backward(g);
  y_ref.backward(g);
  int64_t compared = 0;
  for (auto& p : layer->named_parameters()) {
    if (p.key().find("lora_") == std::string::npos) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_LT(fixtures::rel_err(p.value().grad(), leaf[p.key()].grad()), 1e-10) << p.key();
    ++compared;
  }
  EXPECT_EQ(compared, 3 * (1 + 4 * 3));  // A, B, m on the router and 12 expert projections
}

TEST(Peft, AtInitialisationEveryAdapterLeavesTheLogitsExactlyUnchanged) {
  for (auto mode : {config::TrainMode::kLora, config::TrainMode::kDora, config::TrainMode::kQlora})
    for (int64_t experts : {int64_t(0), int64_t(4)}) {
      auto c = peft_config(mode, experts, experts ? kAllMoe : kAllDense, "float64");
      // The same weights in the same storage (NF4 under qlora), without adapters.
      auto with = build(c), without = build(c, /*without_adapters=*/true);
      int64_t adapters = 0;
      for (const auto& e : with->model->params().entries()) adapters += e.role.is_adapter();
      EXPECT_GT(adapters, 0);
      auto ids = torch::randint(0, c.model.vocab_size, {2, 12}, torch::kLong);
      EXPECT_TRUE(torch::equal(logits(*with->model, ids), logits(*without->model, ids)))
          << config::to_string(mode) << " with " << experts << " experts";
    }
}

TEST(Peft, FrozenMeansFrozenAndOnlyAdaptersHoldOptimizerState) {
  for (auto mode : {config::TrainMode::kLora, config::TrainMode::kDora, config::TrainMode::kQlora})
    for (bool train_router : {false, true}) {
      auto c = peft_config(mode, 4, {"q_proj", "v_proj", "w1", "w2"}, "float32");
      c.peft.train_router = train_router;
      auto groups = fixtures::solo_groups(4);
      auto backend = dist::make_backend("mpi", torch::kCPU);
      train::Trainer t(c, groups, *backend, torch::kCPU);
      const auto& table = t.model()->params();
      std::map<std::string, torch::Tensor> before;
      std::map<std::string, quant::Nf4Tensor> nf4_before;
      for (const auto& e : table.entries()) {
        before[e.name] = e.value().clone();
        if (e.frozen && e.frozen->storage() == quant::WeightStorage::kNf4) {
          auto q = e.frozen->nf4();  // its own copy of the buffers
          q.packed = q.packed.clone(), q.absmax_q = q.absmax_q.clone(),
          q.absmax2 = q.absmax2.clone();
          nf4_before[e.name] = q;
        }
      }
      for (int64_t s = 0; s < 3; ++s) t.train_step({fixtures::synthetic_batch(c, s * 2, 2)}, s);
      int64_t adapters = 0, routers = 0, changed_adapters = 0;
      for (const auto& e : table.entries()) {
        const bool same = torch::equal(e.value(), before[e.name]);
        if (e.role.is_adapter()) {
          ++adapters;
          changed_adapters += same ? 0 : 1;
        } else if (e.role.kind == model::ParamKind::kRouter && train_router) {
          ++routers;
          EXPECT_FALSE(same) << e.name;
        } else {
          EXPECT_TRUE(same) << config::to_string(mode) << ": " << e.name << " changed";
          EXPECT_FALSE(e.trainable()) << e.name;
        }
      }
      for (const auto& [name, q] : nf4_before) {  // codes and scales, bit for bit
        const auto& now = table.at(name).frozen->nf4();
        EXPECT_TRUE(torch::equal(now.packed, q.packed)) << name;
        EXPECT_TRUE(torch::equal(now.absmax_q, q.absmax_q)) << name;
        EXPECT_TRUE(torch::equal(now.absmax2, q.absmax2)) << name;
        EXPECT_EQ(now.offset, q.offset) << name;
      }
      if (mode == config::TrainMode::kQlora) {
        EXPECT_GT(nf4_before.size(), 0u);
      }
      EXPECT_EQ(changed_adapters, adapters) << config::to_string(mode);
      EXPECT_EQ(t.optimizer().state_count(), adapters + routers) << config::to_string(mode);
    }
}

TEST(Peft, TrainableCountsMatchClosedFormsAndThePaper) {
  // TinyLlama: hidden 2048, 22 layers, 32 heads, 4 kv heads; LoRA r 8 on q, k, v, o.
  config::ModelConfig tl;
  tl.hidden_size = 2048, tl.intermediate_size = 5632, tl.num_hidden_layers = 22;
  tl.num_attention_heads = 32, tl.num_key_value_heads = 4, tl.vocab_size = 32000;
  config::PeftConfig p;
  p.lora_targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
  config::TrainConfig lora, dora;
  lora.mode = config::TrainMode::kLora;
  dora.mode = config::TrainMode::kDora;
  for (int64_t E : {2, 4, 8}) {
    tl.num_local_experts = E;
    EXPECT_EQ(model::count_parameters(tl, lora, p).trainable, 2252800) << E;           // "2.3M"
    EXPECT_EQ(model::count_parameters(tl, dora, p).trainable, 2252800 + 101376) << E;  // "2.4M"
    config::RunConfig rc;
    rc.model = tl, rc.train = dora, rc.peft = p;
    rc.validate(1);
    EXPECT_EQ(train::plan_memory(rc).trainable, 2252800 + 101376) << E;
  }
  // Small models, built: the table's trainable tensors add up to the closed form.
  for (auto mode : {config::TrainMode::kLora, config::TrainMode::kDora, config::TrainMode::kQlora})
    for (int64_t experts : {int64_t(0), int64_t(4)})
      for (bool extra : {false, true}) {
        auto c = peft_config(mode, experts, experts ? kAllMoe : kAllDense, "float32");
        if (!extra) c.peft.lora_targets = {"v_proj", experts ? "w2" : "down_proj"};
        c.peft.train_embeddings = extra;
        c.peft.train_router = extra && experts > 0;
        auto b = build(c);
        auto groups = train::apply_freezing(*b->model, c.train, c.peft);
        const int64_t built = groups.dense.numel() + groups.experts.numel();
        EXPECT_EQ(built, model::count_parameters(c.model, c.train, c.peft).trainable);
        c.validate(1);
        EXPECT_EQ(train::plan_memory(c).trainable, built);
        // The layout of the adapters agrees with what was built, name for name.
        std::set<std::string> planned, have;
        for (const auto& s : peft::adapter_layout(
                 c.model, peft::build_options(c.train, c.peft, c.model, torch::kFloat)))
          planned.insert(s.name + c10::str(c10::IntArrayRef(s.shape)));
        for (const auto& e : b->model->params().entries())
          if (e.role.is_adapter()) have.insert(e.name + c10::str(c10::IntArrayRef(e.shape())));
        EXPECT_EQ(planned, have);
      }
}

TEST(Peft, AdapterNamesArePeftsAndExpertsAreMixtrals) {
  EXPECT_EQ(peft::to_peft_name("layers.3.self_attn.q_proj.lora_A.weight"),
            "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(
      peft::to_peft_name("layers.1.block_sparse_moe.experts.5.down_proj.lora_magnitude_vector"),
      "base_model.model.model.layers.1.block_sparse_moe.experts.5.w2.lora_magnitude_vector");
  EXPECT_EQ(peft::from_peft_name(
                "base_model.model.model.layers.1.block_sparse_moe.experts.5.w1.lora_B.weight"),
            "layers.1.block_sparse_moe.experts.5.gate_proj.lora_B.weight");
  EXPECT_EQ(peft::from_peft_name("model.layers.0.mlp.gate_proj.weight"), "");
  // An adapter on an expert is an adapter, summed over that expert's replicas, never frozen
  // as if it were the expert.
  auto c = peft_config(config::TrainMode::kLora, 4, {"w1"}, "float32");
  auto b = build(c);
  const auto& e =
      b->model->params().at("layers.0.block_sparse_moe.experts.2.gate_proj.lora_A.weight");
  EXPECT_TRUE(e.role.is_adapter());
  EXPECT_EQ(e.role.expert, 2);
  EXPECT_EQ(e.role.base, "layers.0.block_sparse_moe.experts.2.gate_proj.weight");
  EXPECT_TRUE(e.role.grad_sum() == model::GradSum::kExpertReplicas);
  EXPECT_TRUE(peft::trainable(e.role, c.train, c.peft));
}

TEST(Peft, AdapterRoundTripsThroughPeftsFormatAndMergesIntoTheBase) {
  const std::string root = ::testing::TempDir() + "mofe_peft_roundtrip";
  std::filesystem::remove_all(root);
  for (auto mode : {config::TrainMode::kLora, config::TrainMode::kDora})
    for (int64_t experts : {int64_t(0), int64_t(4)}) {
      auto c = peft_config(mode, experts, experts ? kAllMoe : kAllDense, "float32");
      c.peft.train_embeddings = true;
      auto a = build(c);
      perturb_adapters(*a->model);
      {  // trained embeddings travel as modules_to_save
        torch::NoGradGuard ng;
        a->model->embed_tokens->weight.add_(0.01);
      }
      const nlohmann::json adapters = {{"mode", config::to_string(mode)},
                                       {"peft", c.peft.to_json()}};
      const std::string dir = root + "/" + config::to_string(mode) + std::to_string(experts);
      TableSource src(*a->model, adapters);
      const auto layout =
          peft::adapter_layout(c.model, peft::inference_options(adapters, c.model, torch::kFloat));
      peft::write_adapter(dir, src, layout, c.peft, mode == config::TrainMode::kDora, "base");
      // Imported back onto the same base: identical logits.
      auto cfg = peft::read_adapter_config(dir);
      EXPECT_EQ(cfg.use_dora, mode == config::TrainMode::kDora);
      EXPECT_THAT(cfg.modules_to_save, testing::Contains("embed_tokens"));
      auto mode2 = config::TrainMode::kLora;
      config::PeftConfig p2;
      peft::adopt_adapter_config(cfg, p2, mode2, {});
      EXPECT_EQ(mode2, mode);
      auto c2 = c;
      c2.peft = p2;
      c2.train.mode = mode2;
      auto b = build(c2);
      peft::check_adapter_file(dir, c.model,
                               peft::build_options(c2.train, c2.peft, c.model, torch::kFloat));
      peft::load_adapter(dir, *b->model);
      auto ids = torch::randint(0, c.model.vocab_size, {2, 10}, torch::kLong);
      EXPECT_TRUE(torch::equal(logits(*a->model, ids), logits(*b->model, ids)));
      // Merged into the base: a plain model with the same function (fp32, 1e-5).
      peft::MergedSource merged(std::make_unique<TableSource>(*a->model, adapters));
      auto plain_cfg = c;
      plain_cfg.train.mode = config::TrainMode::kMofe;
      auto plain = build(plain_cfg);
      EXPECT_EQ(io::load_into(merged, *plain->model), 0);
      EXPECT_LT(fixtures::rel_err(logits(*plain->model, ids), logits(*a->model, ids)), 1e-5);
    }
}

TEST(Peft, AdapterThatDoesNotFitTheModelIsRefusedNamingTheTensor) {
  const std::string dir = ::testing::TempDir() + "mofe_peft_mismatch";
  auto c = peft_config(config::TrainMode::kLora, 4, {"q_proj", "v_proj"}, "float32");
  auto a = build(c);
  const nlohmann::json adapters = {{"mode", "lora"}, {"peft", c.peft.to_json()}};
  TableSource src(*a->model, adapters);
  peft::write_adapter(
      dir, src,
      peft::adapter_layout(c.model, peft::inference_options(adapters, c.model, torch::kFloat)),
      c.peft, false, "base");
  auto wider = c;
  wider.model.hidden_size = 64;
  EXPECT_THAT(
      [&] {
        peft::check_adapter_file(dir, wider.model,
                                 peft::build_options(c.train, c.peft, c.model, torch::kFloat));
      },
      testing::ThrowsMessage<UsageError>(HasSubstr("has shape [8, 32], this model needs [8, 64]")));
  auto more = c;
  more.peft.lora_targets = {"q_proj", "k_proj", "v_proj"};
  EXPECT_THAT(
      [&] {
        peft::check_adapter_file(
            dir, c.model, peft::build_options(more.train, more.peft, c.model, torch::kFloat));
      },
      testing::ThrowsMessage<UsageError>(
          HasSubstr("lacks 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'")));
}

// ---- options -----------------------------------------------------------------------------

namespace {
std::string peft_usage_error(std::vector<std::string> args) {
  try {
    auto parsed = config::parse_run_config(args);
    parsed.config.validate(1);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace

TEST(Peft, BadOptionsAreOneClearLine) {
  EXPECT_THAT(peft_usage_error({"--mode", "lora", "--lora-targets", "q_proj,qproj"}),
              HasSubstr("--lora-targets: 'qproj' names no module"));
  EXPECT_THAT(peft_usage_error({"--mode", "lora", "--num-experts", "0", "--lora-targets", "w1"}),
              HasSubstr("--lora-targets: 'w1' names no module of this dense model"));
  EXPECT_THAT(peft_usage_error({"--mode", "dora", "--lora-r", "0"}),
              HasSubstr("--lora-r must be a positive rank, got 0"));
  EXPECT_THAT(peft_usage_error({"--mode", "lora", "--freeze-experts", "1"}),
              HasSubstr("--freeze-experts chooses which experts stay frozen in --mode full"));
  EXPECT_THAT(peft_usage_error({"--mode", "mofe", "--freeze-experts", "1"}),
              HasSubstr("in --mode mofe every expert is frozen already"));
  EXPECT_THAT(peft_usage_error({"--mode", "mofe", "--train-router"}),
              HasSubstr("--train-router applies to --mode lora, dora or qlora"));
  EXPECT_THAT(peft_usage_error({"--mode", "qlora", "--frozen-dtype", "bf16"}),
              HasSubstr("--mode qlora stores frozen weights in nf4"));
  EXPECT_THAT(peft_usage_error({"--frozen-dtype", "int8"}), HasSubstr("--frozen-dtype: unknown"));
  EXPECT_THAT(peft_usage_error({"--mode", "lora", "--lora-dropout", "1"}),
              HasSubstr("--lora-dropout must be in [0, 1)"));
}

TEST(Peft, ConfigFileSectionsNameTheirGroup) {
  const std::string good = ::testing::TempDir() + "peft_good.cfg";
  std::ofstream(good) << "[train]\nmode = dora\nsteps = 3\n\n[peft]\nlora-r = 4\n"
                         "lora-targets = q_proj,k_proj\n";
  auto c = config::parse_run_config({"--config", good}).config;
  EXPECT_EQ(c.train.mode, config::TrainMode::kDora);
  EXPECT_EQ(c.peft.lora_r, 4);
  EXPECT_EQ(c.peft.lora_targets, (std::vector<std::string>{"q_proj", "k_proj"}));
  const std::string misplaced = ::testing::TempDir() + "peft_bad.cfg";
  std::ofstream(misplaced) << "[train]\nlora-r = 4\n";
  EXPECT_THAT(peft_usage_error({"--config", misplaced}),
              HasSubstr("peft_bad.cfg' line 2: 'lora-r' belongs to [peft], not [train]"));
  const std::string unknown = ::testing::TempDir() + "peft_unknown.cfg";
  std::ofstream(unknown) << "[lora]\nlora-r = 4\n";
  EXPECT_THAT(peft_usage_error({"--config", unknown}),
              HasSubstr("peft_unknown.cfg' line 1: unknown section [lora]"));
}
