#include "mofe/train/metrics.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "mofe/core/error.h"
#include "mofe/core/log.h"

namespace mofe::train {

double max_expert_load(const std::vector<std::vector<int64_t>>& rows) {
  double worst = 0;
  for (const auto& layer : rows) {
    if (layer.empty()) continue;
    int64_t sum = 0, mx = 0;
    for (int64_t c : layer) sum += c, mx = std::max(mx, c);
    if (sum > 0) worst = std::max(worst, double(mx) * layer.size() / double(sum));
  }
  return worst;
}

MetricsLogger::MetricsLogger(bool active, const std::string& path, int64_t total_steps,
                             int64_t start_step, std::string mode)
    : active_(active), total_steps_(total_steps), start_step_(start_step), mode_(std::move(mode)) {
  if (!active_) return;
  out_.open(path, std::ios::app);
  if (!out_) throw IoError("cannot open metrics file '" + path + "'");
}

void MetricsLogger::log(const StepStats& s, bool print_line) {
  if (!active_) return;
  elapsed_s_ += s.step_time_s;
  const double tok_s = s.step_time_s > 0 ? s.tokens / s.step_time_s : 0;
  const int64_t done = s.step - start_step_;
  const double eta = done > 0 ? elapsed_s_ / done * (total_steps_ - s.step) : 0;
  const double load = max_expert_load(s.rows_per_expert);
  nlohmann::json j = {{"step", s.step},
                      {"mode", mode_},
                      {"loss", s.loss},
                      {"aux_loss", s.aux_loss},
                      {"lr", s.lr},
                      {"grad_norm", s.grad_norm},
                      {"tokens", s.tokens},
                      {"tokens_per_s", tok_s},
                      {"step_time_s", s.step_time_s},
                      {"eta_s", eta},
                      {"max_expert_load", load},
                      {"skipped", s.skipped},
                      {"loss_scale", s.loss_scale},
                      {"rows_per_expert", s.rows_per_expert}};
  out_ << j.dump() << "\n";
  out_.flush();
  if (!print_line) return;
  char line[256];
  std::snprintf(line, sizeof line,
                "%s step %5lld/%lld | loss %.4f | aux %.3f | lr %.2e | gnorm %.3f | %8.0f tok/s | "
                "%6.1f ms/step | load %.2f | eta %02d:%02d",
                mode_.c_str(), static_cast<long long>(s.step), static_cast<long long>(total_steps_),
                s.loss, s.aux_loss, s.lr, s.grad_norm, tok_s, s.step_time_s * 1e3, load,
                int(eta) / 60, int(eta) % 60);
  log::info0(line);
}

}  // namespace mofe::train
