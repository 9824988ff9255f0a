// Model interchange: the safetensors parser (golden bytes and every rejection), Hugging Face
// names, import -> export -> re-import round trips, mergekit YAML checks, gate initialisation
// against an independent reference, and the identity merge.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "mofe/ckpt/model_dir.h"
#include "mofe/ckpt/open_model.h"
#include "mofe/core/error.h"
#include "mofe/dist/backend.h"
#include "mofe/io/hf_model.h"
#include "mofe/io/hf_names.h"
#include "mofe/io/safetensors.h"
#include "mofe/io/seeded_model.h"
#include "mofe/merge/gate_init.h"
#include "mofe/merge/merge.h"
#include "mofe/model/param_layout.h"
#include "mofe/model/transformer.h"
#include "support/tiny.h"

using namespace mofe;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {

// A safetensors image built by hand, byte by byte: the parser is checked against the format's
// definition, not against our own writer.
std::vector<uint8_t> image(const std::string& header, const std::vector<uint8_t>& data) {
  std::string s(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(n >> (8 * i));
  s += header;
  s.append(data.begin(), data.end());
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> floats(std::initializer_list<float> v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), std::data(v), out.size());
  return out;
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    io::SafetensorsView::parse(bytes.data(), bytes.size(), "x.safetensors");
  } catch (const IoError& e) {
    return e.what();
  }
  return "(accepted)";
}

const std::string kTwo =
    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
    R"("b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},"__metadata__":{"format":"pt"}})";

config::ModelConfig tiny_llama() {
  config::ModelConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.vocab_size = 50;
  c.num_local_experts = 0;
  return c;
}

std::string temp_dir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "mofe_interchange_" + name;
  fs::remove_all(d);
  return d;
}

void expect_same_tensors(const io::ModelSource& a, const io::ModelSource& b) {
  ASSERT_EQ(a.names(), b.names()) << "tensor lists differ";
  for (const auto& n : a.names()) EXPECT_TRUE(torch::equal(a.load(n), b.load(n))) << n;
}

}  // namespace

TEST(Safetensors, ParsesHandBuiltFile) {
  const auto bytes = image(kTwo, floats({1.5f, -2.0f, 3.25f}));
  auto v = io::SafetensorsView::parse(bytes.data(), bytes.size(), "x");
  ASSERT_EQ(v.tensors().size(), 2u);
  const auto* a = v.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2}));
  auto t = io::to_torch(*v.find("b"), "x");
  EXPECT_EQ(t.sizes(), (c10::IntArrayRef{1, 1}));
  EXPECT_EQ(t.item<float>(), 3.25f);
  EXPECT_EQ(io::to_torch(*a, "x")[1].item<float>(), -2.0f);
  EXPECT_EQ(v.metadata().at("format"), "pt");
}

TEST(Safetensors, ConvertsBf16AndF16) {
  // bf16 1.0 = 0x3f80, -2.5 = 0xc020; f16 1.0 = 0x3c00, 0.5 = 0x3800 (little-endian).
  const auto bytes = image(R"({"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
                           R"("f":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}})",
                           {0x80, 0x3f, 0x20, 0xc0, 0x00, 0x3c, 0x00, 0x38});
  auto v = io::SafetensorsView::parse(bytes.data(), bytes.size(), "x");
  auto h = io::to_torch(*v.find("h"), "x"), f = io::to_torch(*v.find("f"), "x");
  EXPECT_EQ(h.scalar_type(), torch::kFloat);
  EXPECT_EQ(h[0].item<float>(), 1.0f);
  EXPECT_EQ(h[1].item<float>(), -2.5f);
  EXPECT_EQ(f[0].item<float>(), 1.0f);
  EXPECT_EQ(f[1].item<float>(), 0.5f);
}

TEST(Safetensors, RejectsEachKindOfDamageWithAClearMessage) {
  const auto good = image(kTwo, floats({1, 2, 3}));
  auto cut = good;
  cut.resize(good.size() - 2);
  EXPECT_THAT(parse_error(cut), HasSubstr("outside the data area of 10 bytes (tensor 'b')"));
  EXPECT_THAT(parse_error({1, 2, 3}), HasSubstr("has no 8-byte header"));
  auto longer = good;
  longer[0] = 0xff, longer[1] = 0x7f;  // header length 32767 > file
  EXPECT_THAT(parse_error(longer), HasSubstr("larger than the file"));
  auto huge = good;
  huge[5] = 0x01;  // 2^40: beyond the 100 MB bound
  EXPECT_THAT(parse_error(huge), HasSubstr("exceeds the 100 MB limit"));
  EXPECT_THAT(parse_error(image(R"({"a": {"dtype": "F32",)", {})),
              HasSubstr("not valid UTF-8 JSON"));
  EXPECT_THAT(parse_error(image("{\"\xff\xfe\":1}", {})), HasSubstr("not valid UTF-8 JSON"));
  EXPECT_THAT(parse_error(image("[1,2]", {})), HasSubstr("does not start with '{'"));
  EXPECT_THAT(
      parse_error(image(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", floats({1}))),
      HasSubstr("unknown dtype 'Q4' (tensor 'a')"));
  EXPECT_THAT(parse_error(image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                floats({1, 2}))),
              HasSubstr("needs 12 bytes but data_offsets give 8 (tensor 'a')"));
  EXPECT_THAT(parse_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                floats({1, 2}))),
              HasSubstr("overlap"));
  EXPECT_THAT(
      parse_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floats({1}))),
      HasSubstr("outside the data area of 4 bytes (tensor 'a')"));
  EXPECT_THAT(parse_error(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                floats({1, 2}))),
              HasSubstr("gap in the data area"));
  EXPECT_THAT(parse_error(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                floats({1, 2}))),
              HasSubstr("duplicate tensor name (tensor 'a')"));
  EXPECT_THAT(
      parse_error(image(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", floats({1}))),
      HasSubstr("non-negative"));
  EXPECT_THAT(parse_error(image(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],)"
                                R"("data_offsets":[0,4]}})",
                                floats({1}))),
              HasSubstr("overflows"));
  EXPECT_THAT(parse_error(image(R"({"__metadata__":{"k":1}})", {})), HasSubstr("not a string"));
}

TEST(Safetensors, WriterRoundTripsThroughTheParser) {
  const std::string path = temp_dir("st") + ".safetensors";
  auto a = torch::randn({3, 5}), b = torch::randn({7}).to(torch::kBFloat16);
  io::write_safetensors(path,
                        {{"a", io::StDtype::kF32, {3, 5}, a.data_ptr(), 60},
                         {"b", io::StDtype::kBF16, {7}, b.data_ptr(), 14}},
                        {{"format", "pt"}});
  io::SafetensorsFile f(path);
  EXPECT_TRUE(torch::equal(io::to_torch(*f.view().find("a"), path), a));
  EXPECT_TRUE(torch::equal(io::to_torch(*f.view().find("b"), path), b.to(torch::kFloat)));
}

TEST(HfNames, MapBothWays) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"embed_tokens.weight", "model.embed_tokens.weight"},
      {"lm_head.weight", "lm_head.weight"},
      {"norm.weight", "model.norm.weight"},
      {"layers.3.self_attn.q_proj.weight", "model.layers.3.self_attn.q_proj.weight"},
      {"layers.0.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.weight"},
      {"layers.1.block_sparse_moe.gate.weight", "model.layers.1.block_sparse_moe.gate.weight"},
      {"layers.1.block_sparse_moe.experts.7.gate_proj.weight",
       "model.layers.1.block_sparse_moe.experts.7.w1.weight"},
      {"layers.1.block_sparse_moe.experts.7.down_proj.weight",
       "model.layers.1.block_sparse_moe.experts.7.w2.weight"},
      {"layers.1.block_sparse_moe.experts.7.up_proj.weight",
       "model.layers.1.block_sparse_moe.experts.7.w3.weight"}};
  for (const auto& [ours, hf] : pairs) {
    EXPECT_EQ(io::to_hf_name(ours), hf);
    EXPECT_EQ(io::from_hf_name(hf), ours);
  }
  EXPECT_EQ(io::from_hf_name("model.layers.0.self_attn.rotary_emb.inv_freq"), "");
}

TEST(Interchange, ImportExportReimportIsBitwiseForLlamaAndMixtral) {
  auto world = dist::Communicator::world();
  for (bool moe : {false, true}) {
    for (const char* dtype : {"bfloat16", "float32"}) {
      SCOPED_TRACE(std::string(moe ? "mixtral " : "llama ") + dtype);
      auto cfg = tiny_llama();
      if (moe) cfg.num_local_experts = 3;
      const std::string d = temp_dir(std::string(moe ? "moe_" : "dense_") + dtype);
      io::HfExportOptions opt;
      opt.dtype = dtype;
      opt.shard_bytes = 20000;  // several shards and an index
      io::write_hf_model(io::SeededModel(cfg, 7, torch::kFloat, 0.1), d + "/hf", opt);
      io::HfModel hf(d + "/hf");
      EXPECT_EQ(hf.source_dtype(), dtype == std::string("bfloat16") ? "BF16" : "F32");
      ckpt::ModelDirInfo info{hf.config(), hf.source_dtype(), {}, {}};
      ckpt::write_model_dir(
          d + "/imported", info, [&](auto& n) { return hf.load(n); }, world);
      ckpt::ModelDir imported(d + "/imported");
      expect_same_tensors(hf, imported);
      EXPECT_EQ(imported.names().size(), model::param_layout(cfg).size());
      opt.shard_bytes = 1 << 30;
      io::write_hf_model(imported, d + "/exported", opt);
      io::HfModel again(d + "/exported");
      expect_same_tensors(imported, again);
      ckpt::write_model_dir(
          d + "/reimported", info, [&](auto& n) { return again.load(n); }, world);
      EXPECT_EQ(ckpt::ModelDir(d + "/reimported").checksum(), imported.checksum());
    }
  }
}

TEST(Interchange, FusedLayoutStacksGateUpAndDown) {
  auto cfg = tiny_llama();
  cfg.num_local_experts = 2;
  io::SeededModel src(cfg, 3, torch::kFloat);
  const std::string d = temp_dir("fused");
  io::HfExportOptions opt;
  opt.layout = "fused";
  opt.dtype = "float32";
  io::write_hf_model(src, d, opt);
  io::SafetensorsFile f(d + "/model-00001-of-00001.safetensors");
  const auto& v = f.view();
  EXPECT_EQ(v.find("model.layers.0.block_sparse_moe.experts.0.w1.weight"), nullptr);
  auto gate_up = io::to_torch(*v.find("model.layers.1.mlp.experts.gate_up_proj"), d);
  auto down = io::to_torch(*v.find("model.layers.1.mlp.experts.down_proj"), d);
  ASSERT_EQ(gate_up.sizes(), (c10::IntArrayRef{2, 2 * 48, 32}));
  ASSERT_EQ(down.sizes(), (c10::IntArrayRef{2, 32, 48}));
  const std::string e1 = "layers.1.block_sparse_moe.experts.1.";
  EXPECT_TRUE(torch::equal(gate_up[1].slice(0, 0, 48), src.load(e1 + "gate_proj.weight")));
  EXPECT_TRUE(torch::equal(gate_up[1].slice(0, 48), src.load(e1 + "up_proj.weight")));
  EXPECT_TRUE(torch::equal(down[1], src.load(e1 + "down_proj.weight")));
  EXPECT_TRUE(torch::equal(io::to_torch(*v.find("model.layers.1.mlp.gate.weight"), d),
                           src.load("layers.1.block_sparse_moe.gate.weight")));
  // And read back: every expert matrix is a view into the stacked tensors.
  io::HfModel back(d);
  for (const auto& n : src.names()) EXPECT_TRUE(torch::equal(back.load(n), src.load(n))) << n;
  EXPECT_EQ(back.names().size(), src.names().size());
}

TEST(Interchange, HfDirectoryErrorsNameTheFileAndTensor) {
  auto cfg = tiny_llama();
  const std::string d = temp_dir("bad_hf");
  io::HfExportOptions opt;
  opt.dtype = "float32";
  io::write_hf_model(io::SeededModel(cfg, 1, torch::kFloat), d, opt);
  {  // config.json says 4 layers: layer 3's tensors are missing
    auto j = cfg.to_json();
    j["num_hidden_layers"] = 4;
    std::ofstream(d + "/config.json") << j.dump();
  }
  EXPECT_THAT([&] { io::HfModel m(d); },
              ::testing::ThrowsMessage<IoError>(HasSubstr("lacks tensor 'model.layers.3.")));
  {
    auto j = cfg.to_json();
    j["architectures"] = {"GPT2LMHeadModel"};
    std::ofstream(d + "/config.json") << j.dump();
  }
  EXPECT_THAT([&] { io::HfModel m(d); }, ::testing::ThrowsMessage<UsageError>(
                                             HasSubstr("'GPT2LMHeadModel' is not supported")));
  EXPECT_THAT([&] { ckpt::open_model(temp_dir("empty")); },
              ::testing::ThrowsMessage<UsageError>(HasSubstr("is not a directory")));
}

// ---- mergekit YAML -----------------------------------------------------------------------

namespace {
merge::MergeConfig yaml(const std::string& text) {
  const std::string path = ::testing::TempDir() + "mofe_merge_test.yml";
  std::ofstream(path) << text;
  return merge::MergeConfig::load(path);
}
std::string merge_error(const std::string& text, bool allow_same = false) {
  try {
    yaml(text).validate(allow_same);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(accepted)";
}
const char* kGood = R"(base_model: /m/base
gate_mode: hidden
dtype: bfloat16
experts:
  - source_model: /m/med
    positive_prompts: ["a patient", "symptoms"]
    negative_prompts: ["stocks"]
    residual_scale: 0.5
  - source_model: /m/fin
    positive_prompts: "stocks"
)";
}  // namespace

TEST(MergeConfig, ReadsMergekitYaml) {
  auto c = yaml(kGood);
  EXPECT_EQ(c.base_model, "/m/base");
  EXPECT_EQ(c.experts_per_token, 2);
  ASSERT_EQ(c.experts.size(), 2u);
  EXPECT_EQ(c.experts[0].positive_prompts, (std::vector<std::string>{"a patient", "symptoms"}));
  EXPECT_EQ(c.experts[0].negative_prompts, (std::vector<std::string>{"stocks"}));
  EXPECT_EQ(*c.experts[0].residual_scale, 0.5);
  EXPECT_EQ(c.experts[1].positive_prompts, (std::vector<std::string>{"stocks"}));
  EXPECT_NO_THROW(c.validate(false));
}

TEST(MergeConfig, RejectsWhatMergekitRejects) {
  const std::string g = kGood;
  EXPECT_THAT(merge_error(g + "experts_per_token: 3\n"),
              HasSubstr("experts_per_token 3 must be between 1 and"));
  EXPECT_THAT(merge_error(g + "experts_per_token: 0\n"), HasSubstr("experts_per_token 0"));
  EXPECT_THAT(merge_error("base_model: b\nexperts:\n  - source_model: x\n  - source_model: y\n"),
              HasSubstr("experts[0] (x): gate_mode hidden needs positive_prompts"));
  EXPECT_EQ(merge_error("base_model: b\ngate_mode: random\nexperts:\n  - source_model: x\n"
                        "  - source_model: y\n"),
            "(accepted)");
  EXPECT_THAT(
      merge_error("base_model: b\nexperts:\n  - source_model: x\n    positive_prompts: [p]\n"
                  "  - source_model: y\n    positive_prompts: [p]\n"),
      HasSubstr("same prompts"));
  const std::string same =
      "base_model: b\nexperts:\n  - source_model: x\n    positive_prompts: [p]\n"
      "  - source_model: x\n    positive_prompts: [q]\n";
  EXPECT_THAT(merge_error(same), HasSubstr("--allow-identical-experts"));
  EXPECT_EQ(merge_error(same, true), "(accepted)");
  std::string psychic = g;
  psychic.replace(psychic.find("gate_mode: hidden"), 17, "gate_mode: psychic");
  EXPECT_THAT(merge_error(psychic), HasSubstr("gate_mode 'psychic' is unknown"));
  EXPECT_THAT(merge_error(g + "tokenizer_source: union\n"),
              HasSubstr("unknown key 'tokenizer_source'"));
  EXPECT_THAT(merge_error("base_model: [unclosed\n"), HasSubstr("mofe_merge_test.yml"));
  EXPECT_THAT(merge_error("gate_mode: hidden\nexperts: []\n"), HasSubstr("base_model is missing"));
}

// ---- gate initialisation against an independent reference ----------------------------------

namespace {

// A plain Llama forward written from the definitions (not from mofe's modules): the residual
// stream entering each layer for one left-padded batch, float64.
std::vector<torch::Tensor> reference_layer_inputs(const io::ModelSource& m,
                                                  const torch::Tensor& ids_BS,
                                                  const torch::Tensor& real_BS) {
  const auto& c = m.config();
  auto W = [&](const std::string& n) { return m.load(n).to(torch::kFloat64); };
  const int64_t B = ids_BS.size(0), S = ids_BS.size(1), H = c.num_attention_heads,
                G = c.num_key_value_heads, Dh = c.head_dim();
  auto rms = [&](const torch::Tensor& x, const torch::Tensor& w) {
    return x / torch::sqrt(x.pow(2).mean(-1, true) + c.rms_norm_eps) * w;
  };
  // RoPE, rotate-half convention, positions 0..S-1 whatever the padding (as HF does).
  auto pos = torch::arange(S, torch::kFloat64).unsqueeze(1);
  auto inv = torch::pow(c.rope_theta, -torch::arange(0, Dh, 2, torch::kFloat64) / double(Dh));
  auto ang = torch::cat({pos * inv, pos * inv}, 1);  // [S, Dh]
  auto rope = [&](const torch::Tensor& x) {          // [B, n, S, Dh]
    auto x1 = x.slice(-1, 0, Dh / 2), x2 = x.slice(-1, Dh / 2);
    return x * ang.cos() + torch::cat({-x2, x1}, -1) * ang.sin();
  };
  std::vector<torch::Tensor> out;
  auto h = W("embed_tokens.weight").index_select(0, ids_BS.flatten()).view({B, S, -1});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    out.push_back(h);
    const std::string p = "layers." + std::to_string(l) + ".";
    auto x = rms(h, W(p + "input_layernorm.weight"));
    auto q = rope(
        torch::matmul(x, W(p + "self_attn.q_proj.weight").t()).view({B, S, H, Dh}).transpose(1, 2));
    auto k = rope(
        torch::matmul(x, W(p + "self_attn.k_proj.weight").t()).view({B, S, G, Dh}).transpose(1, 2));
    auto v =
        torch::matmul(x, W(p + "self_attn.v_proj.weight").t()).view({B, S, G, Dh}).transpose(1, 2);
    k = k.repeat_interleave(H / G, 1);
    v = v.repeat_interleave(H / G, 1);
    auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(Dh));  // [B,H,S,S]
    auto attn = torch::zeros_like(scores);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < S; ++i) {
        std::vector<int64_t> keys;
        for (int64_t j = 0; j <= i; ++j)
          if (real_BS[b][j].item<bool>()) keys.push_back(j);
        if (keys.empty()) {  // a pad query: HF's min-value mask makes it uniform over all keys
          attn[b].select(1, i).fill_(1.0 / double(S));
          continue;
        }
        auto idx = torch::tensor(keys, torch::kLong);
        auto s = scores[b].select(1, i).index_select(-1, idx).softmax(-1);  // [H, k]
        attn[b].select(1, i).index_copy_(-1, idx, s);
      }
    auto o = torch::matmul(attn, v).transpose(1, 2).reshape({B, S, H * Dh});
    h = h + torch::matmul(o, W(p + "self_attn.o_proj.weight").t());
    x = rms(h, W(p + "post_attention_layernorm.weight"));
    auto g = torch::matmul(x, W(p + "mlp.gate_proj.weight").t());
    auto u = torch::matmul(x, W(p + "mlp.up_proj.weight").t());
    h = h + torch::matmul(g * torch::sigmoid(g) * u, W(p + "mlp.down_proj.weight").t());
  }
  return out;
}

// The steps of the gate modes, written out for one prompt set: [L, D].
torch::Tensor reference_vector(const io::ModelSource& m, const merge::TokenLists& prompts,
                               const std::string& mode) {
  const auto& c = m.config();
  if (mode == "cheap_embed") {
    auto E = m.load("embed_tokens.weight").to(torch::kFloat64);
    auto v = torch::zeros({c.hidden_size}, torch::kFloat64);
    for (const auto& p : prompts)
      for (int32_t t : p) v += E[t];
    return (v / v.norm()).unsqueeze(0).repeat({c.num_hidden_layers, 1});
  }
  size_t S = 0;
  for (const auto& p : prompts) S = std::max(S, p.size());
  auto ids =
      torch::full({int64_t(prompts.size()), int64_t(S)}, int64_t(c.bos_token_id), torch::kLong);
  auto real = torch::zeros({int64_t(prompts.size()), int64_t(S)}, torch::kBool);
  for (size_t b = 0; b < prompts.size(); ++b)
    for (size_t i = 0; i < prompts[b].size(); ++i) {
      ids[b][S - prompts[b].size() + i] = prompts[b][i];
      real[b][S - prompts[b].size() + i] = true;
    }
  auto hs = reference_layer_inputs(m, ids, real);
  std::vector<torch::Tensor> per_layer;
  for (auto& h : hs) {
    torch::Tensor v;
    if (mode == "hidden_avg")
      v = h.mean(1);
    else if (mode == "hidden_avg_masked") {
      auto r = real.to(torch::kFloat64).unsqueeze(-1);
      v = (h * r).sum(1) / r.sum(1);
    } else
      v = h.select(1, int64_t(S) - 1);
    per_layer.push_back(v.mean(0));
  }
  return torch::stack(per_layer);
}

}  // namespace

TEST(GateInit, EachPromptModeMatchesTheHandComputedReference) {
  auto cfg = tiny_llama();
  io::SeededModel base(cfg, 11, torch::kFloat64, 0.2);
  const int32_t bos = int32_t(cfg.bos_token_id);
  // Prompts of different lengths (so padding matters), one expert with negative prompts.
  std::vector<merge::ExpertPrompts> experts = {
      {{{bos, 5, 9, 13, 2}, {bos, 7}}, {}},
      {{{bos, 30, 31}, {bos, 40, 41, 42, 43, 44}, {bos, 3}}, {{bos, 8, 8, 8}}},
      {{{bos, 17, 18, 19}}, {}}};
  auto self = dist::Communicator::dup(MPI_COMM_SELF, "self");
  for (const char* mode :
       {"hidden", "hidden_last", "hidden_avg", "hidden_avg_masked", "cheap_embed"}) {
    SCOPED_TRACE(mode);
    auto got = merge::gate_vectors(mode, base, experts, bos, self, 0, torch::kFloat64);
    ASSERT_EQ(got.sizes(), (c10::IntArrayRef{3, 3, 32}));
    for (size_t e = 0; e < experts.size(); ++e) {
      auto v = reference_vector(base, experts[e].positive, mode);
      if (!experts[e].negative.empty()) v = v - reference_vector(base, experts[e].negative, mode);
      v = v / v.norm(2, -1, true);
      // float32 rotary tables inside the model bound the agreement at ~1e-7.
      EXPECT_TRUE(torch::allclose(got.select(1, int64_t(e)), v, 1e-6, 1e-7))
          << (got.select(1, int64_t(e)) - v).abs().max().item<double>();
    }
  }
  // hidden_avg includes the pad positions, so it differs from the masked mean.
  EXPECT_FALSE(
      torch::allclose(merge::gate_vectors("hidden_avg", base, experts, bos, self, 0),
                      merge::gate_vectors("hidden_avg_masked", base, experts, bos, self, 0)));
  // The default float32 forward agrees to float32 precision.
  auto f32 = merge::gate_vectors("hidden", base, experts, bos, self, 0);
  EXPECT_TRUE(torch::allclose(
      f32, merge::gate_vectors("hidden", base, experts, bos, self, 0, torch::kFloat64), 1e-4,
      1e-5));
}

TEST(GateInit, RandomModesAreSeededAndScaled) {
  auto cfg = tiny_llama();
  io::SeededModel base(cfg, 1, torch::kFloat);
  auto self = dist::Communicator::dup(MPI_COMM_SELF, "self");
  std::vector<merge::ExpertPrompts> four(4);
  auto r = merge::gate_vectors("random", base, four, 1, self, 5);
  EXPECT_EQ(r.sizes(), (c10::IntArrayRef{3, 4, 32}));
  EXPECT_TRUE(torch::equal(r, merge::gate_vectors("random", base, four, 1, self, 5)));
  EXPECT_FALSE(torch::equal(r, merge::gate_vectors("random", base, four, 1, self, 6)));
  auto u = merge::gate_vectors("uniform_random", base, four, 1, self, 5);
  EXPECT_LE(u.abs().max().item<double>(), 1.0 / std::sqrt(32.0));
  EXPECT_GT(u.abs().max().item<double>(), 0.9 / std::sqrt(32.0));
}

TEST(GateInit, FlagsIllConditionedRouters) {
  auto g = torch::randn({2, 3, 16}, torch::kFloat64);
  g[1][2] = g[1][1] + 1e-4 * torch::randn({16}, torch::kFloat64);  // two experts alike
  auto bad = merge::ill_conditioned_layers(g);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].first, 1);
}

// ---- merging real directories (these load the SentencePiece tokenizer) ----------------------

namespace {
std::string make_hf(const std::string& dir, const config::ModelConfig& cfg, uint64_t seed) {
  io::HfExportOptions opt;
  opt.dtype = "float32";
  io::write_hf_model(io::SeededModel(cfg, seed, torch::kFloat, 0.1), dir, opt);
  fs::copy_file(std::string(MOFE_SOURCE_DIR) + "/data/tokenizer.model", dir + "/tokenizer.model",
                fs::copy_options::overwrite_existing);
  return dir;
}
}  // namespace

TEST(MergeWithTokenizer, IdentityMergeGivesTheDenseModelsLogits) {
  auto cfg = tiny_llama();
  cfg.vocab_size = 384;  // the bundled tokenizer's
  const std::string d = temp_dir("identity");
  make_hf(d + "/dense", cfg, 21);
  auto world = dist::Communicator::world();
  auto dense_groups = fixtures::world_groups(1, 0);
  auto backend = dist::make_backend("mpi", torch::kCPU);
  model::Transformer dense(cfg, dense_groups, *backend);
  io::load_into(io::HfModel(d + "/dense"), *dense);
  auto ids = torch::randint(0, 384, {2, 12}, torch::kLong);
  auto want = dense(ids).logits_BSV;
  for (const char* mode : {"hidden", "hidden_avg", "cheap_embed", "random"}) {
    SCOPED_TRACE(mode);
    std::ofstream(d + "/moe.yml") << "base_model: dense\ngate_mode: " << mode
                                  << "\nexperts_per_token: 2\nexperts:\n"
                                     "  - source_model: dense\n    positive_prompts: [medicine]\n"
                                     "  - source_model: dense\n    positive_prompts: [finance]\n"
                                     "  - source_model: dense\n    positive_prompts: [law]\n";
    merge::MergeOptions opt;
    opt.out_dir = d + std::string("/moe_") + mode;
    opt.allow_identical_experts = true;
    merge::merge_models(merge::MergeConfig::load(d + "/moe.yml"), opt, world);
    auto merged = ckpt::open_model(opt.out_dir);
    ASSERT_EQ(merged->config().num_local_experts, 3);
    auto moe_groups = fixtures::world_groups(1, 3);
    model::Transformer moe(merged->config(), moe_groups, *backend);
    io::load_into(*merged, *moe);
    EXPECT_TRUE(torch::allclose(moe(ids).logits_BSV, want, 1e-5, 1e-5));
  }
}

TEST(MergeWithTokenizer, RejectsModelsThatDisagree) {
  auto cfg = tiny_llama();
  cfg.vocab_size = 384;
  const std::string d = temp_dir("disagree");
  make_hf(d + "/a", cfg, 1);
  auto wide = cfg;
  wide.num_hidden_layers = 2;
  make_hf(d + "/b", wide, 2);
  std::ofstream(d + "/m.yml") << "base_model: a\nexperts:\n"
                                 "  - source_model: a\n    positive_prompts: [x]\n"
                                 "  - source_model: b\n    positive_prompts: [y]\n";
  merge::MergeOptions opt;
  opt.out_dir = d + "/out";
  auto world = dist::Communicator::world();
  EXPECT_THAT([&] { merge::merge_models(merge::MergeConfig::load(d + "/m.yml"), opt, world); },
              ::testing::ThrowsMessage<UsageError>(HasSubstr("has num_hidden_layers 2")));
}

TEST(MergeConfig, BundledExampleParses) {
  auto c = merge::MergeConfig::load(std::string(MOFE_SOURCE_DIR) + "/jobs/merge-example.yml");
  EXPECT_NO_THROW(c.validate(false));
  EXPECT_EQ(c.experts.size(), 4u);
  EXPECT_EQ(c.gate_mode, "hidden");
}
