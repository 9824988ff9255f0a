// mofe eval: multiple-choice accuracy scored as lm-evaluation-harness scores it, alone or under
// mpirun/srun with the expert layout of training. This file parses the options; eval/run.h
// does the work.
#include <boost/program_options.hpp>
#include <sstream>

#include "mofe/cli/commands.h"
#include "mofe/core/error.h"
#include "mofe/eval/run.h"
#include "parse_args.h"

namespace po = boost::program_options;

namespace mofe::cli {

namespace {
std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

// --task a,b --data A --data B [--fewshot-data TASK=PATH | PATH (one task)]
std::vector<eval::TaskSpec> task_specs(const std::string& tasks,
                                       const std::vector<std::string>& data,
                                       const std::vector<std::string>& fewshot) {
  std::vector<eval::TaskSpec> out;
  for (const auto& t : split_commas(tasks)) out.push_back({t, "", ""});
  if (out.empty()) return out;
  if (data.size() != out.size())
    throw UsageError("--task names " + std::to_string(out.size()) + " task(s) but " +
                     std::to_string(data.size()) +
                     " --data given: give one --data per task, in the same order");
  for (size_t i = 0; i < out.size(); ++i) out[i].data = data[i];
  for (const auto& f : fewshot) {
    const auto eq = f.find('=');
    if (eq == std::string::npos) {
      if (out.size() != 1)
        throw UsageError("--fewshot-data '" + f + "': with several tasks write TASK=PATH");
      out[0].fewshot_data = f;
      continue;
    }
    const std::string name = f.substr(0, eq);
    bool found = false;
    for (auto& s : out)
      if (s.name == name) s.fewshot_data = f.substr(eq + 1), found = true;
    if (!found)
      throw UsageError("--fewshot-data '" + f + "': task '" + name + "' is not in --task");
  }
  return out;
}
}  // namespace

int run_eval(const Args& args, dist::MpiEnv& env) {
  eval::EvalConfig c;
  std::string tasks;
  std::vector<std::string> data, fewshot;
  bool help = false, no_shared = false;
  po::options_description desc(
      "mofe eval --model M --task T[,T2...] --data PATH [--data PATH2 ...] [options]");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("model", po::value(&c.model), "checkpoint, run directory, mofe model or Hugging Face directory")
      ("adapter", po::value(&c.adapter), "a Hugging Face peft adapter (LoRA/DoRA) applied to the model, or PERFT adapters (a directory with perft_config.json, from mofe export)")
      ("task", po::value(&tasks), "mmlu | medmcqa | pubmedqa | sujet-finance | mcq, or several: mmlu,pubmedqa")
      ("data", po::value(&data)->composing(), "the task's data, once per task in --task order (mmlu: the original release, a directory of <subject>_{dev,test}.csv, or a Hugging Face JSON export)")
      ("num-fewshot", po::value(&c.num_fewshot)->default_value(0), "examples before each question")
      ("fewshot-data", po::value(&fewshot)->composing(), "few-shot pool for tasks without a dev split: PATH, or TASK=PATH with several tasks")
      ("limit", po::value(&c.limit)->default_value(0), "per subtask: the first N documents (N >= 1) or that fraction (0 < x < 1); 0: all")
      ("output", po::value(&c.output), "results JSON (lm-evaluation-harness v0.4 shape)")
      ("log-samples", po::bool_switch(&c.log_samples), "also write samples_<subtask>_<date>.jsonl beside --output (the harness's --log_samples)")
      ("routing-report", po::value(&c.routing_report), "CSV: share of tokens per layer and expert, by subject/domain")
      ("tokenizer", po::value(&c.tokenizer), "tokenizer.model (default: the model's)")
      ("no-bos", po::bool_switch(&c.no_bos), "do not start sequences with BOS")
      ("no-shared-context", po::bool_switch(&no_shared), "score every request in its own sequence (the reference; slower)")
      ("batch-tokens", po::value(&c.batch_tokens)->default_value(c.batch_tokens), "padded tokens per forward pass")
      ("max-length", po::value(&c.max_length)->default_value(0), "longest input; longer ones lose context from the left (0: the model's)")
      ("ep-size", po::value(&c.parallel.ep_size)->default_value(1), "ranks over which each layer's experts are spread")
      ("device", po::value(&c.runtime.device)->default_value("auto"), "auto | cpu | cuda")
      ("dtype", po::value(&c.runtime.dtype)->default_value("float32"), "float32 | float64")
      ("precision", po::value(&c.runtime.precision)->default_value("fp32"), "fp32 | bf16-mixed | fp16-mixed: activations and matmuls in 16 bits, log-softmax in float32")
      ("threads", po::value(&c.runtime.threads)->default_value(0), "intra-op threads per rank");
  // clang-format on
  eval::EvalInputs in;
  const bool ok = agree_on_setup(
      [&] {
        const auto vm = parse_args(args, desc);
        if ((help = vm.count("help"))) return;
        c.share_context = !no_shared;
        c.tasks = task_specs(tasks, data, fewshot);
        in = eval::open_inputs(c, env);
      },
      env);
  if (!ok) return kExitUsage;
  if (help) {
    print_help(desc);
    return 0;
  }
  return eval::run(c, in, env);
}

}  // namespace mofe::cli
