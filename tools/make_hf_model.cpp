// mofe_make_hf_model OUT_DIR [options]: a synthetic Hugging Face Llama directory (config.json,
// sharded safetensors, index, tokenizer.model) with seeded random weights, of any shape: the
// stand-in for real checkpoints in tests and in the import/merge benchmark (no weights can be
// downloaded here). Defaults: the tiny test model; --tinyllama gives TinyLlama-1.1B's shape.
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "mofe/core/error.h"
#include "mofe/io/hf_model.h"
#include "mofe/io/seeded_model.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  mofe::config::ModelConfig c;
  c.num_local_experts = 0;
  c.vocab_size = 384;
  std::string out, tokenizer, dtype = "bfloat16";
  uint64_t seed = 1;
  double jitter = 0.1;
  int64_t shard = 2'000'000'000;
  bool tinyllama = false;
  po::options_description desc("mofe_make_hf_model OUT_DIR [options]");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("out", po::value(&out), "output directory (also positional)")
      ("hidden-size", po::value(&c.hidden_size)->default_value(c.hidden_size), "")
      ("intermediate-size", po::value(&c.intermediate_size)->default_value(c.intermediate_size), "")
      ("num-layers", po::value(&c.num_hidden_layers)->default_value(c.num_hidden_layers), "")
      ("num-heads", po::value(&c.num_attention_heads)->default_value(c.num_attention_heads), "")
      ("num-kv-heads", po::value(&c.num_key_value_heads)->default_value(c.num_key_value_heads), "")
      ("vocab-size", po::value(&c.vocab_size)->default_value(c.vocab_size), "")
      ("num-experts", po::value(&c.num_local_experts)->default_value(c.num_local_experts), "0: a dense Llama; else a Mixtral with this many experts")
      ("experts-per-token", po::value(&c.num_experts_per_tok)->default_value(c.num_experts_per_tok), "")
      ("tinyllama", po::bool_switch(&tinyllama), "TinyLlama-1.1B's shape (22 x 2048, 5632, 32/4 heads, 32000)")
      ("dtype", po::value(&dtype)->default_value(dtype), "bfloat16 | float16 | float32")
      ("seed", po::value(&seed)->default_value(seed), "weights seed")
      ("norm-jitter", po::value(&jitter)->default_value(jitter), "norm weights = 1 + N(0, jitter)")
      ("shard-size", po::value(&shard)->default_value(shard), "bytes per safetensors file")
      ("tokenizer", po::value(&tokenizer), "tokenizer.model to copy in");
  // clang-format on
  po::positional_options_description pos;
  pos.add("out", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
    po::notify(vm);
    if (vm.count("help") || out.empty()) {
      std::cout << desc << "\n";
      return out.empty() ? 2 : 0;
    }
    if (tinyllama) {
      c.hidden_size = 2048, c.intermediate_size = 5632, c.num_hidden_layers = 22;
      c.num_attention_heads = 32, c.num_key_value_heads = 4, c.vocab_size = 32000;
    }
    c.validate();
    mofe::io::SeededModel src(c, seed, torch::kFloat, jitter);
    mofe::io::HfExportOptions opt;
    opt.layout = "mixtral";
    opt.dtype = dtype;
    opt.shard_bytes = shard;
    const auto n = mofe::io::write_hf_model(src, out, opt);
    if (!tokenizer.empty())
      std::filesystem::copy_file(tokenizer, std::filesystem::path(out) / "tokenizer.model",
                                 std::filesystem::copy_options::overwrite_existing);
    std::printf("wrote %s: %s %lld x %lld, %lld tensors, %s\n", out.c_str(),
                c.num_local_experts > 0 ? "Mixtral" : "Llama", (long long)c.num_hidden_layers,
                (long long)c.hidden_size, (long long)n, dtype.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mofe_make_hf_model: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
