#include "train/adamw.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <string>

namespace fratmae::train {

namespace {
bool fusable(const at::Tensor& p, const at::Tensor& g) {
  return p.device().is_cpu() && p.scalar_type() == at::kFloat && g.scalar_type() == at::kFloat && !g.is_sparse() &&
         p.is_contiguous() && g.is_contiguous() && p.sizes() == g.sizes();
}
}  // namespace

torch::Tensor FusedAdamW::step(LossClosure closure) {
  for (const auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (o.amsgrad() || !fusable(p, p.grad())) return torch::optim::AdamW::step(closure);
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const double lr = o.lr(), wd = o.weight_decay(), eps = o.eps();
    const double b1 = std::get<0>(o.betas()), b2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());  // AdamW's state key
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

}  // namespace fratmae::train
