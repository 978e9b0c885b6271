#include "train/finetuner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <tuple>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <memory>
#include <optional>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "core/torch_compat.h"
#include "data/cache.h"
#include "data/crops.h"
#include "data/loader.h"
#include "data/normalize.h"
#include "data/splits.h"
#include "infer/cache_eval.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/encoder_init.h"
#include "train/pretrainer.h"
#include "core/folder_lock.h"
#include "core/provenance.h"
#include "train/run_folder.h"
#include "train/run_util.h"
#include "train/schedule.h"
#include "train/seg_loss.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::train {

DownstreamModel make_downstream(const std::string& task, const model::ModelConfig& mc, int64_t feature_size,
                                int64_t hidden, const std::string& pool, const std::string& modalities, bool input_skip,
                                bool deep_supervision, bool conv_encoder) {
  DownstreamModel d;
  d.task = task;
  d.modalities = modalities;
  if (task == "seg") d.seg = model::SegmentationNet(mc, feature_size, 2, modalities, input_skip, deep_supervision, conv_encoder);
  else if (task == "stage") d.stage = model::StagingNet(mc, hidden, 2, 0.1, pool, modalities);
  else throw Error("unknown task '" + task + "' (seg, stage)");
  return d;
}

namespace {

json checkpoint_identity(const std::string& task, const model::ModelConfig& mc, const json& head) {
  return {{"task", task}, {"model", mc.to_json()}, {"head", head}};
}

std::vector<std::string> ids_of(const data::Cache& c, const std::vector<int64_t>& cases) {
  std::vector<std::string> ids;
  for (int64_t i : cases) ids.push_back(c.at(i).id);
  return ids;
}

// The median native spacing of the training cases (what the segmentation model has learnt at).
std::array<double, 3> median_spacing(const data::Cache& c, const std::vector<int64_t>& cases) {
  std::array<double, 3> m{0, 0, 0};
  for (int a = 0; a < 3; ++a) {
    std::vector<double> v;
    for (int64_t i : cases) v.push_back(c.at(i).nat_spacing[static_cast<size_t>(a)]);
    if (v.empty()) continue;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    m[static_cast<size_t>(a)] = v[v.size() / 2];
  }
  return m;
}

}  // namespace

namespace {
// The model a run's test evaluation scored: its newest checkpoint.
json model_record(const fs::path& run) {
  const auto ck = latest_checkpoint(run);
  return ck ? checkpoint_record(*ck) : json(nullptr);
}
}  // namespace

DownstreamModel load_finetuned(const fs::path& run, const std::string& device) {
  const fs::path cfg_path = run / "config.json";
  std::error_code ec;
  if (!fs::exists(cfg_path, ec)) throw FileError(run, "is not a fine-tuning run (no config.json)");
  const json cfg = json::parse(read_file(cfg_path), nullptr, false);
  if (cfg.is_discarded() || !cfg.contains("task") || !cfg.contains("model") || !cfg.contains("head"))
    throw FileError(cfg_path, "is not a fine-tuning run configuration (a pre-training run? fine-tune it first "
                              "with `fratmae finetune --init`)");
  const auto ck = latest_checkpoint(run);
  if (!ck) throw FileError(run, "has no checkpoint yet");
  const model::ModelConfig mc = model::ModelConfig::from_json(cfg["model"]);
  DownstreamModel d = make_downstream(cfg["task"], mc, cfg["head"].value("feature_size", int64_t{16}),
                                      cfg["head"].value("hidden", int64_t{256}), cfg["head"].value("pool", std::string("mean")),
                                      cfg["head"].value("modalities", std::string("petct")),
                                      cfg["head"].value("input_skip", true), cfg["head"].value("deep_supervision", false),
                                      cfg["head"].value("conv_encoder", false));
  d.run_config = cfg;
  d.source = checkpoint_record(*ck);
  SafetensorsFile w;
  w.tensors = load_checkpoint_weights(*ck);
  std::map<std::string, at::Tensor> dest;
  for (const auto& p : d.module().named_parameters()) dest[p.key()] = p.value();
  for (const auto& b : d.module().named_buffers()) dest[b.key()] = b.value();
  load_into(dest, w, (*ck / "model.safetensors").string(), /*strict=*/true);
  d.module().to(torch::Device(device));
  d.module().eval();
  return d;
}

infer::SlidingWindowConfig evaluation_windows(const DownstreamModel& seg) {
  if (!seg.seg) throw Error("sliding windows need a segmentation run, not a staging one");
  const json& rc = seg.run_config;
  const json& tr = rc.at("train");
  infer::SlidingWindowConfig sw;
  sw.window = seg.seg->cfg.input;
  sw.overlap = tr.value("overlap", 0.5);
  sw.body_only = tr.value("body_only", false);
  sw.body_level = data::body_level(data::CacheSettings::from_json(rc.at("cache").at("settings")).normalize);
  return sw;
}

FinetuneResult finetune(const FinetuneConfig& given, bool resume) {
  given.validate();
  const fs::path run(given.out);
  // Data parallelism across processes (torchrun / SLURM environment, train/distributed.h): each
  // rank trains on its share of every batch, gradients are averaged, rank 0 writes (and holds
  // the run folder's lock) and alone scores the validation split; the test split is shared.
  const DistEnv denv = DistEnv::from_environment();
  std::optional<FolderLock> lock;
  if (denv.rank == 0) lock.emplace(run, "finetune");  // one writer per run
  const std::optional<json> started = started_run_config(run);
  FinetuneConfig cfg = with_run_length(given, started, resume);
  if (cfg.batch % denv.world != 0)
    throw Error("finetune: --batch " + std::to_string(cfg.batch) + " must be a multiple of WORLD_SIZE (" +
                std::to_string(denv.world) + ")");
  const std::unique_ptr<ProcessGroup> pg = join_process_group(denv, cfg.device);
  const bool lead = denv.rank == 0;
  const int64_t local_batch = cfg.batch / denv.world;
  const bool seg = cfg.task == "seg";
  if (seg && local_batch == 1 && torch::Device(cfg.device).is_cpu())
    // LibTorch's CPU 3-D convolution takes its slow native kernel instead of oneDNN for a batch of
    // one with few channels: the UNETR decoder's convolutions run ~17x slower per voxel
    // (docs/experiments.md). Sliding-window inference avoids it; a training batch cannot.
    spdlog::warn("finetune: {} sample per process on the CPU: LibTorch convolves a batch of one with its slow kernel "
                 "(about 17x slower per voxel); --batch {} or more is faster per sample",
                 local_batch, 2 * denv.world);
  std::shared_ptr<data::Cache> cache = data::Cache::open(cfg.cache);

  // Model: the pre-trained one's configuration (encoders) or a preset.
  std::optional<PretrainedEncoders> pre;
  model::ModelConfig mc;
  if (!cfg.init.empty()) {
    pre = read_pretrained_encoders(cfg.init);
    mc = pre->config;
  } else {
    mc = model::ModelConfig::preset_config(cfg.preset);
  }

  // Crops and the input shape: native windows for segmentation (the pre-training stack shape;
  // axial: H = W = the stack's W, D = its H), the central whole-body stack for staging.
  const std::array<int64_t, 3> wb = cache->settings().size;
  data::LoaderConfig lc;
  if (seg) {
    if (!cache->settings().native)
      throw FileError(cache->dir(), "has no native-resolution copies, which segmentation trains on (run "
                                    "`fratmae preprocess` without --no-native)");
    const std::array<int64_t, 3> base = cfg.input[0] > 0 ? cfg.input : mc.input;
    const std::array<int64_t, 3> size = cfg.stack == "axial" ? std::array<int64_t, 3>{base[1], base[1], base[0]} : base;
    lc = data::LoaderConfig::segmentation(true, cfg.batch, cfg.seed, size);
    lc.crop.lesion_prob = cfg.lesion_prob;
    lc.crop.lesion_centred = cfg.lesion_centred;
    mc.input = size;
  } else {
    lc = data::LoaderConfig::staging(true, cfg.batch, cfg.seed);
    lc.crop.kind = cfg.stack == "axial" ? data::CropKind::kAxial : data::CropKind::kCoronal;
    lc.crop.slices = mc.input[0];
    lc.crop.stride = cfg.stride;
    mc.input = data::crop_shape(lc.crop, wb);
  }
  lc.augment.enabled = cfg.augment;
  lc.augment.intensity_scale = cfg.intensity_scale;
  lc.augment.validate();
  lc.workers = cfg.workers;
  try {
    mc.validate();
  } catch (const Error& e) {
    throw Error("finetune: the " + cfg.stack + " input " + std::to_string(mc.input[0]) + " x " +
                std::to_string(mc.input[1]) + " x " + std::to_string(mc.input[2]) + " does not fit the model (" + e.what() +
                "); re-run `fratmae preprocess` with --size multiples of " + std::to_string(mc.patch));
  }
  const json head = seg ? json{{"type", "unetr"}, {"feature_size", cfg.feature_size}, {"classes", 2},
                               {"modalities", cfg.modalities}, {"input_skip", cfg.input_skip},
                               {"deep_supervision", cfg.deep_supervision}, {"conv_encoder", cfg.conv_encoder}}
                        : json{{"type", "mlp"}, {"hidden", cfg.hidden}, {"pool", cfg.pool}, {"classes", 2},
                               {"modalities", cfg.modalities}};

  // Split by case; keep the cases the task can use.
  const std::vector<std::string> all_ids = cache->ids();
  // Test cases come first in the split's order, so adding a validation split leaves them as they were.
  const data::Split split = data::split_cases(all_ids, cfg.val_fraction, cfg.test_fraction, cfg.split_seed);
  std::vector<int64_t> train = data::training_subset(all_ids, split.train, cfg.train_fraction, cfg.split_seed);
  auto usable = [&](const std::vector<int64_t>& v) {
    return seg ? data::cases_with_mask(*cache, v) : data::cases_with_stage(*cache, v);
  };
  train = usable(train);
  const std::vector<int64_t> test = usable(split.test), val = usable(split.val);
  if (static_cast<int64_t>(train.size()) < cfg.batch)
    throw FileError(cache->dir(), "has " + std::to_string(train.size()) + " training case(s) with " +
                                      (seg ? "lesion masks" : "a known stage") + " at --train-fraction " +
                                      std::to_string(cfg.train_fraction) + ", fewer than --batch " + std::to_string(cfg.batch));

  // Run folder and resolved configuration.
  json settings = cache->settings().to_json();
  const json resolved = {
      {"provenance", provenance()},
      {"task", cfg.task},
      {"train", cfg.to_json()},
      {"model", mc.to_json()},
      {"head", head},
      {"crop", lc.crop.to_string()},
      {"stack", cfg.stack},
      {"cache",
       {{"path", cfg.cache}, {"cases", cache->size()}, {"settings", settings}, {"native_spacing", median_spacing(*cache, train)}}},
      {"init", pre ? json{{"source", pre->source}, {"method", pre->config.method}} : json(nullptr)},
      {"split", {{"train", ids_of(*cache, train)}, {"val", ids_of(*cache, val)}, {"test", ids_of(*cache, test)}}}};
  // Settings finetune gained after its first release, with the behaviour before each existed: a
  // run started by an older fratmae resumes (e.g. an experiment continued after an upgrade).
  static const std::vector<std::pair<std::string, json>> kAddedLater = {
      {"/train/val_fraction", 0.0},        {"/train/pool", "mean"},          {"/train/input", json::array({0, 0, 0})},
      {"/train/modalities", "petct"},      {"/train/lesion_centred", false}, {"/train/input_skip", true},
      {"/train/deep_supervision", false}, {"/train/encoder_lr_scale", 1.0}, {"/train/intensity_scale", 0.1},
      {"/train/conv_encoder", false}};
  const std::optional<json> started_now =
      started ? std::optional<json>(with_settings_added_later(*started, kAddedLater)) : std::nullopt;
  check_run_folder(run, started_now, resolved, resume,
                   {"provenance", "cache", "crop", "head", "init", "stack", "train.steps", "train.epochs", "train.checkpoint_every",
                    "train.log_every", "train.val_every", "train.workers", "train.out", "train.cache", "train.device",
                    "train.evaluate", "train.overlap", "train.body_only", "train.window_batch", "train.tta",
                    "train.bootstrap"},
                   "finetune");
  std::error_code ec;
  if (pg) pg->barrier();  // every rank has looked before rank 0 writes
  if (lead) fs::create_directories(run, ec);
  if (ec) throw FileError(run, "cannot create run folder: " + ec.message());
  if (lead) write_file_atomic(run / "config.json", resolved.dump(2) + "\n");

  const torch::Device device(cfg.device);
  torch::manual_seed(cfg.seed);
  DownstreamModel dm = make_downstream(cfg.task, mc, cfg.feature_size, cfg.hidden, cfg.pool, cfg.modalities, cfg.input_skip,
                                       cfg.deep_supervision, cfg.conv_encoder);
  torch::nn::Module& net = dm.module();
  if (pre) load_pretrained_encoders(net, *pre);
  if (cfg.freeze_encoders)
    for (auto& p : net.named_parameters())
      if (p.key().rfind("pet_encoder.", 0) == 0 || p.key().rfind("ct_encoder.", 0) == 0) p.value().set_requires_grad(false);
  net.to(device);
  if (pg) pg->broadcast_state(net);
  // The encoders' own learning-rate factor only when asked (groups and checkpoints unchanged otherwise).
  std::vector<double> lr_scales;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (cfg.encoder_lr_scale != 1.0) std::tie(groups, lr_scales) = encoder_scaled_groups(net, cfg.weight_decay, cfg.encoder_lr_scale);
  else groups = decay_groups(net, cfg.weight_decay);
  FusedAdamW opt(std::move(groups), torch::optim::AdamWOptions(cfg.task_lr()));

  data::BatchLoader loader(cache, train, lc);
  const int64_t bpe = loader.batches_per_epoch();
  const int64_t total = cfg.steps > 0 ? cfg.steps : cfg.epochs * bpe;
  const int64_t warmup = static_cast<int64_t>(cfg.warmup_fraction * static_cast<double>(total));
  const json identity = checkpoint_identity(cfg.task, mc, head);

  FinetuneResult result;
  result.total_steps = total;
  if (resume) {
    if (auto ck = latest_checkpoint(run)) {
      const CheckpointState st = load_checkpoint(*ck, net, opt, identity);
      result.start_step = st.step;
      spdlog::info("resuming {} from step {} ({})", run.string(), st.step, ck->filename().string());
    }
  }
  std::vector<json> metrics = read_metrics(run / "metrics.jsonl", result.start_step);
  if (pg) pg->barrier();  // every rank has read the run's files before rank 0 rewrites them
  std::ofstream metrics_file;
  if (lead) {
    std::string kept;
    for (const json& m : metrics) kept += m.dump() + "\n";
    write_file_atomic(run / "metrics.jsonl", kept);
    metrics_file.open(run / "metrics.jsonl", std::ios::app);
  }
  spdlog::info("finetune {}: {} from {}, input {}x{}x{}, {} training / {} validation / {} test cases, {} steps of {}, "
               "lr {}, on {}",
               cfg.task, cfg.stack, pre ? pre->source : std::string("scratch (" + mc.preset + ")"), mc.input[0],
               mc.input[1], mc.input[2], train.size(), val.size(), test.size(), total, cfg.batch, cfg.task_lr(),
               cfg.device);

  // Held-out scores on the validation split (learning curves; what settings are chosen on).
  infer::SlidingWindowConfig sw;
  sw.overlap = cfg.overlap;
  sw.batch = cfg.window_batch;
  sw.flip_tta = cfg.tta;
  sw.body_only = cfg.body_only;
  sw.body_level = data::body_level(cache->settings().normalize);
  data::LoaderConfig eval_lc = data::LoaderConfig::staging(false, cfg.batch, cfg.seed);
  eval_lc.crop = lc.crop;
  eval_lc.crop.central = true;
  eval::BootstrapOptions bo;
  bo.samples = cfg.bootstrap;
  bo.seed = cfg.seed;
  auto validation_scores = [&]() {
    eval::BootstrapOptions once;
    once.samples = 1;  // the intervals are not used here
    json v = json::object();
    net.eval();
    if (seg) {
      const infer::SegEvaluation e = infer::evaluate_segmentation(dm.seg, *cache, val, sw, device, cfg.bf16, once,
                                                                  false, /*show_progress=*/false);
      for (const char* k : {"dice", "fp_volume_ml", "pred_lesions"}) {
        std::vector<double> x;
        for (const auto& m : e.cases) x.push_back(m.get(k));
        v[std::string("val_") + k] = eval::nan_mean(x);
      }
    } else {
      const infer::StageEvaluation e = infer::evaluate_staging(dm.stage, cache, val, eval_lc, device, cfg.bf16, once);
      v["val_accuracy"] = e.summary["accuracy"]["value"];
      v["val_macro_sensitivity"] = e.summary["macro_sensitivity"]["value"];
    }
    net.train();
    for (auto& [k, x] : v.items())
      if (x.is_number_float() && std::isnan(x.get<double>())) x = nullptr;
    return v;
  };

  const bool autocast = device.is_cuda() && cfg.bf16;
  SequentialBatches feed(loader);
  auto save = [&](int64_t steps_done) {
    if (!lead) return;
    CheckpointState st;
    st.step = steps_done;
    st.model = identity;
    save_checkpoint(run, net, opt, st);
    write_metrics_plot(run / "loss.svg", "fratmae finetune: " + cfg.task + " (" + cfg.stack + ")", metrics,
                       {{"loss", "loss (total)"},
                        {"dice", "Dice loss"},
                        {"ce", "cross-entropy"},
                        {"train_accuracy", "training accuracy"},
                        {"val_dice", "validation Dice"},
                        {"val_accuracy", "validation accuracy"}});
  };

  Progress progress("finetune " + cfg.task, total - result.start_step, "steps");
  StepMeter meter;  // logged values summed on the device, read once per metrics line
  int64_t n_steps = 0, n_samples = 0;
  std::string shown = "";  // the last logged loss, for the progress line
  auto interval_start = std::chrono::steady_clock::now();
  const auto t0 = interval_start;
  int64_t step = result.start_step;
  net.train();
  for (; step < total; ++step) {
    const double lr = cosine_lr(step, total, warmup, cfg.task_lr(), cfg.min_lr);
    if (lr_scales.empty()) set_lr(opt, lr);
    else set_lr(opt, lr, lr_scales);
    for (auto& p : net.parameters()) p.mutable_grad() = at::Tensor();
    data::Batch batch = feed.get(step);
    if (pg) batch = batch.rows(denv.rank * local_batch, local_batch);
    batch = batch.to(device, true);
    torch::Tensor loss, a, b;
    RowGather gather;  // the Dice of the global batch under data parallelism
    if (pg) gather = [&pg](const torch::Tensor& t) { return pg->all_gather_rows(t); };
    {
      compat::CudaAutocast ac(autocast);
      if (seg) {
        const SegLoss l = cfg.deep_supervision
                              ? deep_supervision_loss(dm.seg->forward_levels(batch.ct, batch.pet), batch.seg, gather)
                              : dice_ce_loss(dm.seg->forward(batch.ct, batch.pet), batch.seg, gather);
        loss = l.loss, a = l.dice, b = l.ce;
      } else {
        const auto logits = dm.stage->forward(batch.ct, batch.pet).to(torch::kFloat);
        loss = torch::nn::functional::cross_entropy(logits, batch.stage_label);
        a = logits.argmax(1).eq(batch.stage_label).to(torch::kFloat).mean();
      }
    }
    loss.backward();
    if (pg) {
      pg->average_gradients(net);
      const auto m = pg->mean({stop_request().load() != 0 ? 1.0 : 0.0});
      if (m[0] > 0 && stop_request().load() == 0) stop_request().store(SIGTERM);  // another rank was told to stop
    }
    if (cfg.clip_grad > 0) meter.add("grad_norm", clip_grad_norm(net.parameters(), cfg.clip_grad));
    opt.step();
    meter.add("loss", loss);
    meter.add("a", a);
    if (b.defined()) meter.add("b", b);
    ++n_steps;
    n_samples += batch.size() * denv.world;
    progress.advance(1, shown);
    const bool last = step + 1 == total, stopping = stop_request().load() != 0;
    const bool val_now = !val.empty() && !stopping && cfg.val_every >= 0 &&
                         (last || (cfg.val_every > 0 && (step + 1) % cfg.val_every == 0));
    if ((step + 1) % cfg.log_every == 0 || last || stopping || val_now) {
      const auto now = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(now - interval_start).count();
      auto sums = meter.take();
      if (pg) {  // every rank logs at the same steps: the interval's sums averaged across ranks
        const auto m = pg->mean({sums["loss"], sums["a"], sums["b"]});
        sums["loss"] = m[0], sums["a"] = m[1], sums["b"] = m[2];
      }
      const double n = static_cast<double>(n_steps);
      json m = {{"step", step + 1},
                {"epoch", step / bpe},
                {"loss", sums["loss"] / n},
                {"lr", lr},
                {"grad_norm", sums["grad_norm"] / n},
                {"samples_per_s", secs > 0 ? n_samples / secs : 0.0},
                {"elapsed_s", std::chrono::duration<double>(now - t0).count()}};
      if (seg) m["dice"] = sums["a"] / n, m["ce"] = sums["b"] / n;
      else m["train_accuracy"] = sums["a"] / n;
      if (val_now && lead) m.update(validation_scores());
      if (lead) {
        errno = 0;
        metrics_file << m.dump() << "\n" << std::flush;
        if (!metrics_file) throw FileError(run / "metrics.jsonl", write_failure(errno));
      }
      metrics.push_back(m);
      shown = "loss " + std::to_string(m["loss"].get<double>()).substr(0, 6);
      n_steps = n_samples = 0;
      interval_start = now;
    }
    if ((step + 1) % cfg.checkpoint_every == 0 || last || stopping) save(step + 1);
    if (stopping) {
      result.interrupted = true;
      ++step;
      spdlog::warn("stopped by signal {} after step {}; checkpoint written, continue with --resume",
                   stop_request().load(), step);
      break;
    }
  }
  result.steps_done = step;
  progress.finish();
  std::tie(result.first_loss, result.last_loss) = loss_ends(metrics);
  if (result.interrupted || !cfg.evaluate || test.empty()) return result;

  // The held-out test split. Over several processes each scores every world-th case and rank 0
  // gathers the scores in the split's order and writes them, as one process would.
  std::vector<int64_t> mine;
  for (size_t i = 0; i < test.size(); ++i)
    if (!pg || static_cast<int>(i % static_cast<size_t>(denv.world)) == denv.rank) mine.push_back(test[i]);
  if (pg) spdlog::info("test split: {} cases scored over {} processes ({} here)", test.size(), denv.world, mine.size());
  const std::vector<std::string> test_ids = ids_of(*cache, test);
  net.eval();
  if (seg) {
    infer::SegEvaluation e;  // a process with no case (more processes than cases) sends none
    if (!mine.empty()) e = infer::evaluate_segmentation(dm.seg, *cache, mine, sw, device, cfg.bf16, bo, false, lead);
    if (pg) {
      const std::vector<std::string> shares = pg->gather_strings(infer::share_text(e));
      if (!lead) return result;
      e = infer::seg_evaluation_from_shares(shares, test_ids, bo);
    }
    infer::write_evaluation(run / "test", e, model_record(run));
    result.test = e.summary;
    spdlog::info("test split, {} cases: Dice {} IoU {}", e.ids.size(), e.summary["dice"].dump(), e.summary["iou"].dump());
  } else {
    infer::StageEvaluation e;
    if (!mine.empty()) e = infer::evaluate_staging(dm.stage, cache, mine, eval_lc, device, cfg.bf16, bo);
    if (pg) {
      const std::vector<std::string> shares = pg->gather_strings(infer::share_text(e));
      if (!lead) return result;
      e = infer::stage_evaluation_from_shares(shares, test_ids, bo);
    }
    infer::write_evaluation(run / "test", e, model_record(run));
    result.test = e.summary;
  }
  return result;
}

}  // namespace fratmae::train
