#include "train/pretrain_config.h"

#include <set>

#include "core/device.h"
#include "core/error.h"

namespace fratmae::train {

using nlohmann::json;

void PretrainConfig::validate() const {
  if (cache.empty()) throw Error("pretrain: --cache CACHE is required (make one with `fratmae preprocess`)");
  if (out.empty()) throw Error("pretrain: --out RUN is required");
  model::ModelConfig::preset_config(preset, method);  // throws on unknown preset/method
  if (stack != "coronal" && stack != "axial") throw Error("pretrain: --stack must be 'coronal' or 'axial'");
  if (stride < 1) throw Error("pretrain: --stride must be at least 1");
  if (steps < 0 || epochs < 1 || stop_after < 0) throw Error("pretrain: --epochs must be >= 1 and --steps >= 0");
  if (batch < 1 || accum < 1 || batch % accum != 0)
    throw Error("pretrain: --batch must be a positive multiple of --accum");
  if (!(lr > 0) || min_lr < 0 || min_lr > lr) throw Error("pretrain: need 0 <= --min-lr <= --lr and --lr > 0");
  if (warmup_fraction < 0 || warmup_fraction >= 1) throw Error("pretrain: --warmup must be in [0, 1)");
  if (weight_decay < 0 || clip_grad < 0) throw Error("pretrain: --weight-decay and --clip-grad must be >= 0");
  if (log_every < 1 || checkpoint_every < 1) throw Error("pretrain: --log-every and --checkpoint-every must be >= 1");
  check_device(device, "pretrain");
  if (workers < 0) throw Error("pretrain: --workers must be >= 0");
}

json PretrainConfig::to_json() const {
  return {{"cache", cache}, {"out", out}, {"preset", preset}, {"method", method}, {"stack", stack},
          {"stride", stride}, {"epochs", epochs}, {"steps", steps}, {"stop_after", stop_after}, {"batch", batch}, {"accum", accum},
          {"lr", lr}, {"min_lr", min_lr}, {"warmup_fraction", warmup_fraction}, {"weight_decay", weight_decay},
          {"clip_grad", clip_grad}, {"seed", seed}, {"log_every", log_every}, {"checkpoint_every", checkpoint_every},
          {"device", device}, {"bf16", bf16}, {"workers", workers}, {"resident", resident},
          {"augment", augment},
          {"clip_weights", clip_weights}};
}

PretrainConfig PretrainConfig::from_json(const json& j) {
  PretrainConfig c;
  const json ref = c.to_json();
  for (const auto& [k, v] : j.items())
    if (!ref.contains(k)) throw Error("pretrain config: unknown key '" + k + "'");
  try {
    c.cache = j.value("cache", c.cache);
    c.out = j.value("out", c.out);
    c.preset = j.value("preset", c.preset);
    c.method = j.value("method", c.method);
    c.stack = j.value("stack", c.stack);
    c.stride = j.value("stride", c.stride);
    c.epochs = j.value("epochs", c.epochs);
    c.steps = j.value("steps", c.steps);
    c.stop_after = j.value("stop_after", c.stop_after);
    c.batch = j.value("batch", c.batch);
    c.accum = j.value("accum", c.accum);
    c.lr = j.value("lr", c.lr);
    c.min_lr = j.value("min_lr", c.min_lr);
    c.warmup_fraction = j.value("warmup_fraction", c.warmup_fraction);
    c.weight_decay = j.value("weight_decay", c.weight_decay);
    c.clip_grad = j.value("clip_grad", c.clip_grad);
    c.seed = j.value("seed", c.seed);
    c.log_every = j.value("log_every", c.log_every);
    c.checkpoint_every = j.value("checkpoint_every", c.checkpoint_every);
    c.device = j.value("device", c.device);
    c.bf16 = j.value("bf16", c.bf16);
    c.workers = j.value("workers", c.workers);
    c.resident = j.value("resident", c.resident);
    c.augment = j.value("augment", c.augment);
    c.clip_weights = j.value("clip_weights", c.clip_weights);
  } catch (const json::exception& e) {
    throw Error(std::string("pretrain config: a value has the wrong type: ") + e.what());
  }
  return c;
}

}  // namespace fratmae::train
