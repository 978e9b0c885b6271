#include "train/run_util.h"

#include <fstream>

#include "viz/plot.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::train {

namespace {
// Weight decay on weight matrices only (not biases, norms, tokens or position embeddings).
bool decayed(const std::string& name, const at::Tensor& p) {
  return p.dim() >= 2 && name.find("token") == std::string::npos && name.find("positional_embedding") == std::string::npos;
}
}  // namespace

std::vector<torch::optim::OptimizerParamGroup> decay_groups(torch::nn::Module& m, double wd) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : m.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    (decayed(p.key(), p.value()) ? decay : no_decay).push_back(p.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions().weight_decay(wd)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions().weight_decay(0.0)));
  return groups;
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

std::pair<std::vector<torch::optim::OptimizerParamGroup>, std::vector<double>> encoder_scaled_groups(
    torch::nn::Module& m, double wd, double encoder_scale) {
  std::vector<at::Tensor> v[4];  // encoder decay, encoder no decay, other decay, other no decay
  for (const auto& p : m.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    const bool encoder = p.key().rfind("pet_encoder.", 0) == 0 || p.key().rfind("ct_encoder.", 0) == 0;
    v[(encoder ? 0 : 2) + (decayed(p.key(), p.value()) ? 0 : 1)].push_back(p.value());
  }
  std::pair<std::vector<torch::optim::OptimizerParamGroup>, std::vector<double>> out;
  for (int i = 0; i < 4; ++i) {
    if (v[i].empty()) continue;
    out.first.emplace_back(v[i], std::make_unique<torch::optim::AdamWOptions>(
                                     torch::optim::AdamWOptions().weight_decay(i % 2 == 0 ? wd : 0.0)));
    out.second.push_back(i < 2 ? encoder_scale : 1.0);
  }
  return out;
}

void set_lr(torch::optim::Optimizer& opt, double lr, const std::vector<double>& scales) {
  auto& groups = opt.param_groups();
  for (size_t i = 0; i < groups.size(); ++i)
    static_cast<torch::optim::AdamWOptions&>(groups[i].options()).lr(lr * (i < scales.size() ? scales[i] : 1.0));
}

std::pair<double, double> loss_ends(const std::vector<json>& metrics) {
  std::vector<double> loss;
  for (const json& m : metrics)
    if (m.contains("loss") && m["loss"].is_number()) loss.push_back(m["loss"].get<double>());
  if (loss.empty()) return {0.0, 0.0};
  const size_t k = std::max<size_t>(1, loss.size() / 10);
  double a = 0, b = 0;
  for (size_t i = 0; i < k; ++i) a += loss[i], b += loss[loss.size() - 1 - i];
  return {a / static_cast<double>(k), b / static_cast<double>(k)};
}

std::vector<json> read_metrics(const fs::path& p, int64_t before_step) {
  std::vector<json> out;
  std::ifstream f(p);
  for (std::string line; std::getline(f, line);) {
    if (line.empty()) continue;
    try {
      json j = json::parse(line);
      if (j.value("step", int64_t{0}) <= before_step) out.push_back(j);
    } catch (const json::exception&) {
      break;  // a torn last line from a crash
    }
  }
  return out;
}

void write_metrics_plot(const fs::path& svg, const std::string& title, const std::vector<json>& metrics,
                        const std::vector<std::pair<std::string, std::string>>& keys) {
  std::vector<viz::Series> series;
  for (const auto& [key, label] : keys) {
    viz::Series s{label, {}, {}};
    for (const json& m : metrics)
      if (m.contains(key) && m[key].is_number()) {
        s.x.push_back(m["step"].get<double>());
        s.y.push_back(m[key].get<double>());
      }
    if (!s.x.empty()) series.push_back(std::move(s));
  }
  viz::write_line_plot(svg, title, "optimizer step", series);
}

data::Batch SequentialBatches::get(int64_t i) {
  const int64_t epoch = i / bpe_, within = i % bpe_;
  if (epoch == epoch_ && within == next_) {
    ++next_;
    if (auto b = loader_.next()) return *b;
  }
  if (within == 0) {
    loader_.start_epoch(epoch);
    epoch_ = epoch;
    next_ = 1;
    if (auto b = loader_.next()) return *b;
  }
  return loader_.batch_at(epoch, within);  // resuming mid-epoch
}

at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  std::vector<at::Tensor> grads, norms;
  for (const auto& p : params)
    if (p.grad().defined()) {
      grads.push_back(p.grad());
      norms.push_back(p.grad().detach().to(at::kFloat).norm());
    }
  if (grads.empty()) return at::zeros({}, at::kFloat);
  const at::Tensor total = at::stack(norms).norm();
  const at::Tensor scale = (max_norm / (total + 1e-6)).clamp_max(1.0);
  at::NoGradGuard ng;
  for (auto& g : grads) g.mul_(scale.to(g.scalar_type()));
  return total;
}

void StepMeter::add(const std::string& key, const at::Tensor& value) {
  const at::Tensor v = value.detach().to(at::kFloat).reshape({});
  auto it = sums_.find(key);
  if (it == sums_.end()) sums_.emplace(key, v.clone());
  else it->second.add_(v);
}

std::map<std::string, double> StepMeter::take() {
  std::map<std::string, double> out;
  if (sums_.empty()) return out;
  std::vector<at::Tensor> values;
  for (const auto& [k, v] : sums_) values.push_back(v);
  const at::Tensor host = at::stack(values).to(at::kCPU, at::kDouble);  // the one synchronisation
  const auto a = host.accessor<double, 1>();
  int64_t i = 0;
  for (const auto& [k, v] : sums_) out[k] = a[i++];
  sums_.clear();
  return out;
}

}  // namespace fratmae::train
