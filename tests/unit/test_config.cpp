// Options -> RunConfig -> validate: every bad input is a UsageError whose message names the
// option and shows the numbers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mofe/config/options.h"
#include "mofe/core/error.h"

using mofe::UsageError;
using mofe::config::parse_run_config;
using mofe::config::RunConfig;
using testing::HasSubstr;

namespace {

RunConfig parse(std::vector<std::string> args, int world = 1) {
  auto parsed = parse_run_config(args);
  parsed.config.validate(world);
  return parsed.config;
}

std::string usage_error(std::vector<std::string> args, int world = 1) {
  try {
    parse(args, world);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST(Config, DefaultsAreValid) {
  RunConfig c = parse({});
  EXPECT_EQ(c.parallel.ep_size, 1);
  EXPECT_EQ(c.parallel.dp_size, 1);
  EXPECT_EQ(c.model.num_experts_per_tok, 2);
}

TEST(Config, RecomputeAutoIsFullForQloraAndNoneElsewhere) {
  namespace config = mofe::config;
  // QLoRA recomputes every layer by default, as peft's prepare_model_for_kbit_training turns
  // on gradient checkpointing for a 4-bit model; an explicit level applies to every mode.
  config::TrainConfig t;
  EXPECT_EQ(t.recompute, "auto");
  for (auto mode : {config::TrainMode::kMofe, config::TrainMode::kFull, config::TrainMode::kLora,
                    config::TrainMode::kDora, config::TrainMode::kPerftR}) {
    t.mode = mode;
    EXPECT_EQ(t.recompute_level(), config::Recompute::kNone) << config::to_string(mode);
  }
  t.mode = config::TrainMode::kQlora;
  EXPECT_EQ(t.recompute_level(), config::Recompute::kFull);
  t.recompute = "none";
  EXPECT_EQ(t.recompute_level(), config::Recompute::kNone);
  t.recompute = "moe";
  t.mode = config::TrainMode::kMofe;
  EXPECT_EQ(t.recompute_level(), config::Recompute::kMoe);
  t.recompute = "some";
  EXPECT_THROW(t.validate(4), UsageError);
}

TEST(Config, ExpertsNotDivisibleByEpSize) {
  EXPECT_THAT(usage_error({"--num-experts", "6", "--ep-size", "4"}, 4),
              HasSubstr("num_local_experts(6) not divisible by ep_size(4)"));
}

TEST(Config, WorldNotEpTimesDp) {
  EXPECT_THAT(usage_error({"--ep-size", "2", "--dp-size", "3"}, 4),
              HasSubstr("ep_size(2) * dp_size(3) = 6 != world size 4"));
  EXPECT_THAT(usage_error({"--ep-size", "3", "--num-experts", "3"}, 4), HasSubstr("not divisible"));
}

TEST(Config, TopKLargerThanExperts) {
  EXPECT_THAT(usage_error({"--num-experts", "2", "--experts-per-token", "3"}),
              HasSubstr("num_experts_per_tok(3) > num_local_experts(2)"));
}

TEST(Config, UnknownMode) {
  EXPECT_THAT(usage_error({"--mode", "adalora"}), HasSubstr("--mode: unknown mode 'adalora'"));
}

TEST(Config, NonPositiveSizes) {
  EXPECT_THAT(usage_error({"--hidden-size", "0"}), HasSubstr("hidden_size must be positive"));
  EXPECT_THAT(usage_error({"--num-layers", "-1"}), HasSubstr("num_hidden_layers must be positive"));
  EXPECT_THAT(usage_error({"--steps", "0"}), HasSubstr("--steps must be positive"));
  EXPECT_THAT(usage_error({"--micro-batch", "0"}), HasSubstr("--micro-batch must be positive"));
  EXPECT_THAT(usage_error({"--ep-size", "0"}), HasSubstr("--ep-size must be positive"));
}

TEST(Config, UnknownKeyInConfigFileNamesTheFile) {
  auto path = write_temp("bad.cfg", "hidden-size = 64\nhiden-size = 32\n");
  std::string msg = usage_error({"--config", path});
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("hiden-size"));
}

TEST(Config, UnknownCommandLineOption) {
  EXPECT_THAT(usage_error({"--no-such-option", "1"}), HasSubstr("no-such-option"));
}

TEST(Config, CommandLineWinsOverConfigFile) {
  auto path = write_temp("ok.cfg", "hidden-size = 64\nsteps = 7\n");
  RunConfig c = parse({"--config", path, "--steps", "9"});
  EXPECT_EQ(c.model.hidden_size, 64);
  EXPECT_EQ(c.train.steps, 9);
}

TEST(Config, FreezeExpertsList) {
  RunConfig c = parse({"--mode", "full", "--freeze-experts", "0,3"});
  EXPECT_TRUE(c.train.expert_frozen(0));
  EXPECT_FALSE(c.train.expert_frozen(1));
  EXPECT_TRUE(c.train.expert_frozen(3));
  EXPECT_THAT(usage_error({"--freeze-experts", "9"}), HasSubstr("expert 9 out of range"));
  EXPECT_THAT(usage_error({"--freeze-experts", "a"}), HasSubstr("not an integer"));
}

TEST(Config, TrainPartsList) {
  RunConfig c = parse({"--mode", "full", "--train-parts", "ffn,router"});
  EXPECT_TRUE(c.train.part_trains("ffn"));
  EXPECT_TRUE(c.train.part_trains("router"));
  EXPECT_FALSE(c.train.part_trains("attention"));
  EXPECT_TRUE(parse({"--mode", "full"}).train.part_trains("attention"));  // default: all
  EXPECT_THAT(usage_error({"--mode", "full", "--train-parts", "ffn,mlp"}),
              HasSubstr("--train-parts: unknown part 'mlp'"));
  EXPECT_THAT(usage_error({"--train-parts", "ffn"}),
              HasSubstr("--train-parts chooses what trains in --mode full"));
}

TEST(Config, ModelConfigJsonRoundTripInHfVocabulary) {
  mofe::config::ModelConfig m;
  m.num_local_experts = 8;
  auto j = m.to_json();
  EXPECT_EQ(j["num_local_experts"], 8);
  EXPECT_EQ(j["num_experts_per_tok"], 2);
  EXPECT_EQ(j["architectures"][0], "MixtralForCausalLM");
  auto back = mofe::config::ModelConfig::from_json(j);
  EXPECT_EQ(back.to_json(), j);
  // A Llama config.json (no expert keys) is a dense model.
  auto llama = mofe::config::ModelConfig::from_json(nlohmann::json{
      {"hidden_size", 64}, {"num_attention_heads", 4}, {"architectures", {"LlamaForCausalLM"}}});
  EXPECT_FALSE(llama.is_moe());
  EXPECT_EQ(llama.num_key_value_heads, 4);
}

TEST(Config, ModelConfigFileOverriddenByOptions) {
  mofe::config::ModelConfig m;
  m.hidden_size = 96;
  m.num_attention_heads = 6;
  m.num_key_value_heads = 3;
  std::string path = ::testing::TempDir() + "config.json";
  m.save(path);
  RunConfig c = parse({"--model-config", path, "--num-layers", "3"});
  EXPECT_EQ(c.model.hidden_size, 96);
  EXPECT_EQ(c.model.num_hidden_layers, 3);
  EXPECT_THAT(usage_error({"--model-config", write_temp("bad.json", "{ nope")}),
              HasSubstr("not valid JSON"));
}
