#include "train/adamw.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <string>

#include "core/torch_compat.h"

namespace fratmae::train {

namespace {
bool fusable(const at::Tensor& p, const at::Tensor& g) {
  return p.device().is_cpu() && p.scalar_type() == at::kFloat && g.scalar_type() == at::kFloat && !g.is_sparse() &&
         p.is_contiguous() && g.is_contiguous() && p.sizes() == g.sizes();
}
bool cuda_fusable(const at::Tensor& p, const at::Tensor& g) {
  return compat::kHasFusedAdamW && p.is_cuda() && g.device() == p.device() && p.scalar_type() == at::kFloat &&
         g.scalar_type() == at::kFloat && !g.is_sparse() && p.is_contiguous() && g.is_contiguous() &&
         p.sizes() == g.sizes();
}
}  // namespace

torch::Tensor FusedAdamW::step(LossClosure closure) {
  bool cpu = true, cuda = true;
  for (const auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (o.amsgrad()) return torch::optim::AdamW::step(closure);
      cpu = cpu && fusable(p, p.grad());
      cuda = cuda && cuda_fusable(p, p.grad());
    }
  }
  if (!cpu && !cuda) return torch::optim::AdamW::step(closure);
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable(true);
    loss = closure();
  }
  if (!cpu) {
    cuda_update();
    return loss;
  }
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const double lr = o.lr(), wd = o.weight_decay(), eps = o.eps();
    const double b1 = std::get<0>(o.betas()), b2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& st = state_of(p);
      st.step(st.step() + 1);
      const double bc1 = 1 - std::pow(b1, static_cast<double>(st.step()));
      const double bc2 = 1 - std::pow(b2, static_cast<double>(st.step()));
      const float decay = static_cast<float>(1 - lr * wd), fb1 = static_cast<float>(b1),
                  fb2 = static_cast<float>(b2), c1 = static_cast<float>(1 - b1), c2 = static_cast<float>(1 - b2),
                  inv_sqrt_bc2 = static_cast<float>(1 / std::sqrt(bc2)), feps = static_cast<float>(eps),
                  step_size = static_cast<float>(lr / bc1);
      float* pp = p.data_ptr<float>();
      const float* pg = p.grad().data_ptr<float>();
      float* pm = st.exp_avg().data_ptr<float>();
      float* pv = st.exp_avg_sq().data_ptr<float>();
      at::parallel_for(0, p.numel(), 16384, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) {
          const float g = pg[i];
          const float m = pm[i] * fb1 + c1 * g;
          const float v = pv[i] * fb2 + c2 * g * g;
          pm[i] = m;
          pv[i] = v;
          pp[i] = pp[i] * decay - step_size * (m / (std::sqrt(v) * inv_sqrt_bc2 + feps));
        }
      });
    }
  }
  return loss;
}

torch::optim::AdamWParamState& FusedAdamW::state_of(const at::Tensor& p) {
  const auto key = compat::optimizer_state_key(state_, p);
  auto it = state_.find(key);
  if (it == state_.end()) {
    auto st = std::make_unique<torch::optim::AdamWParamState>();
    st->step(0);
    st->exp_avg(torch::zeros_like(p, at::MemoryFormat::Contiguous));
    st->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Contiguous));
    it = state_.emplace(key, std::move(st)).first;
  }
  auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
  if (!st.exp_avg().is_contiguous()) st.exp_avg(st.exp_avg().contiguous());
  if (!st.exp_avg_sq().is_contiguous()) st.exp_avg_sq(st.exp_avg_sq().contiguous());
  return st;
}

void FusedAdamW::cuda_update() {
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<at::Tensor> params, grads, m, v, steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& st = state_of(p);
      st.step(st.step() + 1);  // the host's count, what checkpoints save
      // The kernel reads the count from a float tensor on the device. It is made from the host's
      // count by a fill kernel (no copy, no synchronisation) when missing or out of step (a
      // checkpoint was loaded), else advanced on the device with the others below.
      auto& ds = device_steps_[p.unsafeGetTensorImpl()];
      if (!ds.count.defined() || ds.host != st.step() - 1 || ds.count.device() != p.device()) {
        ds.count = at::full({}, static_cast<double>(st.step() - 1), p.options().dtype(at::kFloat));
      }
      ds.host = st.step();
      params.push_back(p);
      grads.push_back(p.grad());
      m.push_back(st.exp_avg());
      v.push_back(st.exp_avg_sq());
      steps.push_back(ds.count);
    }
    if (params.empty()) continue;
    at::_foreach_add_(steps, 1);
    compat::fused_adamw_(params, grads, m, v, steps, o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()),
                         o.weight_decay(), o.eps());
  }
}

}  // namespace fratmae::train
