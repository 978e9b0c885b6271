#include "train/finetune_config.h"

#include <algorithm>

#include "core/device.h"
#include "core/error.h"
#include "model/config.h"

namespace fratmae::train {

void FinetuneConfig::validate() const {
  if (task != "seg" && task != "stage") throw Error("finetune: --task must be 'seg' or 'stage'");
  if (cache.empty()) throw Error("finetune: --cache CACHE is required (make one with `fratmae preprocess`)");
  if (out.empty()) throw Error("finetune: --out RUN is required");
  if (init.empty()) model::ModelConfig::preset_config(preset);  // throws on an unknown preset
  if (stack != "coronal" && stack != "axial") throw Error("finetune: --stack must be 'coronal' or 'axial'");
  const bool no_input = input[0] == 0 && input[1] == 0 && input[2] == 0;
  if (!no_input && (input[0] < 1 || input[1] < 1 || input[2] < 1))
    throw Error("finetune: --input needs three positive sizes (H W D), or 0 0 0 for the model's own");
  if (stride < 1) throw Error("finetune: --stride must be at least 1");
  if (!(train_fraction > 0 && train_fraction <= 1)) throw Error("finetune: --train-fraction must lie in (0, 1]");
  if (!(test_fraction >= 0 && test_fraction < 1)) throw Error("finetune: --test-fraction must lie in [0, 1)");
  if (!(val_fraction >= 0 && val_fraction + test_fraction < 1))
    throw Error("finetune: --val-fraction must be >= 0 and leave training cases (val + test < 1)");
  if (val_every < -1) throw Error("finetune: --val-every must be >= 0 (or -1: no validation scores)");
  if (steps < 0 || epochs < 1) throw Error("finetune: --epochs must be >= 1 and --steps >= 0");
  if (batch < 1) throw Error("finetune: --batch must be at least 1");
  if (lr < 0 || min_lr < 0 || (lr > 0 && min_lr > lr)) throw Error("finetune: need 0 <= --min-lr <= --lr");
  if (warmup_fraction < 0 || warmup_fraction >= 1) throw Error("finetune: --warmup must be in [0, 1)");
  if (weight_decay < 0 || clip_grad < 0) throw Error("finetune: --weight-decay and --clip-grad must be >= 0");
  if (feature_size < 1 || hidden < 1) throw Error("finetune: --feature-size and --hidden must be >= 1");
  if (!(encoder_lr_scale > 0)) throw Error("finetune: --encoder-lr-scale must be positive");
  const auto& pools = model::staging_pools();
  if (std::find(pools.begin(), pools.end(), pool) == pools.end())
    throw Error("finetune: --pool must be " + model::staging_pools_text());
  if (task == "stage" && pool == "input" && (!init.empty() || freeze_encoders || encoder_lr_scale != 1.0))
    throw Error("finetune: --pool input reads the images without an encoder; --init, --freeze-encoders and "
                "--encoder-lr-scale have no encoder to act on");
  if (modalities != "petct" && modalities != "pet" && modalities != "ct")
    throw Error("finetune: --modalities must be petct, pet or ct");
  if (conv_encoder && task != "seg") throw Error("finetune: --conv-encoder is a segmentation decoder's; not for --task " + task);
  if (conv_encoder && !input_skip)
    throw Error("finetune: --conv-encoder starts from the input skip's convolutions; it needs --input-skip true");
  if (!(intensity_scale >= 0 && intensity_scale < 1)) throw Error("finetune: --intensity-scale must lie in [0, 1)");
  if (!(lesion_prob >= 0 && lesion_prob <= 1)) throw Error("finetune: --lesion-prob must lie in [0, 1]");
  if (log_every < 1 || checkpoint_every < 1) throw Error("finetune: --log-every and --checkpoint-every must be >= 1");
  check_device(device, "finetune");
  if (workers < 0) throw Error("finetune: --workers must be >= 0");
  if (!(overlap >= 0 && overlap < 1)) throw Error("finetune: --overlap must lie in [0, 1)");
  if (window_batch < 1 || bootstrap < 1) throw Error("finetune: --window-batch and --bootstrap must be >= 1");
}

nlohmann::json FinetuneConfig::to_json() const {
  return {{"task", task}, {"cache", cache}, {"out", out}, {"init", init}, {"preset", preset}, {"stack", stack}, {"input", input},
          {"stride", stride}, {"train_fraction", train_fraction}, {"test_fraction", test_fraction},
          {"val_fraction", val_fraction}, {"val_every", val_every},
          {"split_seed", split_seed}, {"epochs", epochs}, {"steps", steps}, {"batch", batch}, {"lr", task_lr()},
          {"min_lr", min_lr}, {"warmup_fraction", warmup_fraction}, {"weight_decay", weight_decay},
          {"clip_grad", clip_grad}, {"freeze_encoders", freeze_encoders}, {"feature_size", feature_size}, {"input_skip", input_skip}, {"deep_supervision", deep_supervision}, {"conv_encoder", conv_encoder}, {"encoder_lr_scale", encoder_lr_scale},
          {"hidden", hidden}, {"pool", pool}, {"modalities", modalities}, {"lesion_prob", lesion_prob}, {"lesion_centred", lesion_centred}, {"seed", seed}, {"log_every", log_every},
          {"checkpoint_every", checkpoint_every}, {"device", device}, {"bf16", bf16}, {"workers", workers},
          {"augment", augment}, {"intensity_scale", intensity_scale}, {"evaluate", evaluate}, {"overlap", overlap}, {"body_only", body_only}, {"window_batch", window_batch},
          {"tta", tta}, {"bootstrap", bootstrap}};
}

}  // namespace fratmae::train
