#include "train/pretrainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <tuple>
#include <csignal>
#include <fstream>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/folder_lock.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "core/torch_compat.h"
#include "data/cache.h"
#include "data/crops.h"
#include "data/loader.h"
#include "model/fratmae.h"
#include "model/text_encoder.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "core/provenance.h"
#include "train/run_folder.h"
#include "train/distributed.h"
#include "train/run_util.h"
#include "train/schedule.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::train {

std::atomic<int>& stop_request() {
  static std::atomic<int> flag{0};
  return flag;
}

namespace {

void write_plot(const fs::path& run, const std::vector<json>& metrics, const std::string& title) {
  write_metrics_plot(run / "loss.svg", title, metrics,
                     {{"loss", "loss (total)"}, {"mse", "reconstruction MSE (eq. 3)"}, {"infonce", "InfoNCE (eq. 4)"}});
}

}  // namespace


PretrainResult pretrain(const PretrainConfig& given, bool resume) {
  given.validate();
  const fs::path run(given.out);
  // Data parallelism across processes (torchrun / SLURM environment); rank 0 writes, and holds
  // the run folder's lock while it does (one writer per run).
  const DistEnv denv = DistEnv::from_environment();
  std::optional<FolderLock> lock;
  if (denv.rank == 0) lock.emplace(run, "pretrain");
  const std::optional<json> started = started_run_config(run);
  const PretrainConfig cfg = with_run_length(given, started, resume);
  if (cfg.batch % (cfg.accum * denv.world) != 0)
    throw Error("pretrain: --batch " + std::to_string(cfg.batch) + " must be a multiple of --accum x WORLD_SIZE (" +
                std::to_string(cfg.accum * denv.world) + ")");
  std::string device_name = cfg.device;
  const std::unique_ptr<ProcessGroup> pg = join_process_group(denv, device_name);
  const bool lead = denv.rank == 0;
  const int64_t local_micro = cfg.batch / (cfg.accum * denv.world);
  std::shared_ptr<data::Cache> cache = data::Cache::open(cfg.cache);

  // Crops and the model's input shape follow from the preset, the stack and the cache.
  model::ModelConfig mc = model::ModelConfig::preset_config(cfg.preset, cfg.method);
  data::LoaderConfig lc = data::LoaderConfig::pretraining(cfg.batch / cfg.accum, cfg.seed);
  lc.crop.kind = cfg.stack == "axial" ? data::CropKind::kAxial : data::CropKind::kCoronal;
  lc.crop.slices = cfg.stack == "axial" ? mc.input[2] : mc.input[0];
  lc.crop.stride = cfg.stride;
  lc.augment.enabled = cfg.augment;
  lc.workers = cfg.workers;
  if (cfg.resident) {  // the same batches (batch_at() is a pure function), cut on the device
    lc.resident = true;
    lc.resident_native = false;
    lc.device = device_name;
  }
  const std::array<int64_t, 3> wb = cache->settings().size;  // whole-body (H, W, D)
  mc.input = data::crop_shape(lc.crop, wb);
  try {
    mc.validate();
  } catch (const Error& e) {
    throw Error(std::string("pretrain: the cache's whole-body size ") + std::to_string(wb[0]) + " x " +
                std::to_string(wb[1]) + " x " + std::to_string(wb[2]) + " gives " + cfg.stack + " stacks of " +
                std::to_string(mc.input[0]) + " x " + std::to_string(mc.input[1]) + " x " + std::to_string(mc.input[2]) +
                ", which the '" + cfg.preset + "' preset cannot take (" + e.what() +
                "); re-run `fratmae preprocess` with --size multiples of " + std::to_string(mc.patch));
  }

  // Run directory and resolved configuration.
  const json resolved = {{"provenance", provenance()},
                         {"train", cfg.to_json()},
                         {"model", mc.to_json()},
                         {"crop", lc.crop.to_string()},
                         {"cache", {{"path", cfg.cache}, {"cases", cache->size()}, {"whole_body_size", wb}}}};
  check_run_folder(run, started, resolved, resume,
                   {"provenance", "cache", "train.steps", "train.stop_after", "train.epochs", "train.checkpoint_every", "train.log_every",
                    "train.workers", "train.resident", "train.out", "train.cache", "train.device"},
                   "pretrain");
  std::error_code ec;
  if (pg) pg->barrier();  // every rank has looked before rank 0 writes
  if (lead) fs::create_directories(run, ec);
  if (ec) throw FileError(run, "cannot create run folder: " + ec.message());
  if (lead) write_file_atomic(run / "config.json", resolved.dump(2) + "\n");

  const torch::Device device(device_name);
  torch::manual_seed(cfg.seed);
  model::FratMae net(mc);
  if (!cfg.clip_weights.empty() && net->text_encoder) model::load_clip_text_weights(net->text_encoder, cfg.clip_weights);
  net->to(device);
  if (pg) pg->broadcast_state(*net);
  FusedAdamW opt(decay_groups(*net, cfg.weight_decay), torch::optim::AdamWOptions(cfg.lr).betas({0.9, 0.95}));

  data::BatchLoader loader(cache, data::all_cases(*cache), lc);
  const int64_t bpe = loader.batches_per_epoch();
  const int64_t steps_per_epoch = std::max<int64_t>(1, bpe / cfg.accum);
  const int64_t total = cfg.steps > 0 ? cfg.steps : cfg.epochs * steps_per_epoch;
  const int64_t warmup = static_cast<int64_t>(cfg.warmup_fraction * static_cast<double>(total));

  PretrainResult result;
  result.total_steps = total;
  if (resume) {
    if (auto ck = latest_checkpoint(run)) {
      const CheckpointState st = load_checkpoint(*ck, *net, opt, mc.to_json());
      result.start_step = st.step;
      spdlog::info("resuming {} from step {} ({})", run.string(), st.step, ck->filename().string());
    }
  }
  std::vector<json> metrics = read_metrics(run / "metrics.jsonl", result.start_step);
  if (lead) {
    std::string kept;
    for (const json& m : metrics) kept += m.dump() + "\n";
    write_file_atomic(run / "metrics.jsonl", kept);
  }
  if (pg) pg->barrier();  // resumed from the same files everywhere
  std::ofstream metrics_file;
  if (lead) metrics_file.open(run / "metrics.jsonl", std::ios::app);

  spdlog::info("pretrain: {} ({}), {} stacks {}x{}x{}, {} cases, {} steps of {} samples, lr {}, on {}", cfg.method,
               cfg.preset, cfg.stack, mc.input[0], mc.input[1], mc.input[2], cache->size(), total, cfg.batch, cfg.lr,
               cfg.device);
  Progress progress("pretrain", total - result.start_step, "steps");
  const bool autocast = device.is_cuda() && cfg.bf16;
  SequentialBatches feed(loader);
  auto save = [&](int64_t steps_done) {
    if (!lead) return;
    CheckpointState st;
    st.step = steps_done;
    st.model = mc.to_json();
    save_checkpoint(run, *net, opt, st);
    write_plot(run, metrics, "fratmae pretrain: " + cfg.method + " (" + cfg.preset + ", " + cfg.stack + ")");
  };

  // The step reads nothing back to the host: the logged values add up on the device
  // (StepMeter) and are read once per metrics line; gradient clipping keeps its norm and scale
  // on the device. Under c10d one flag (a stop request on any rank) is exchanged per step.
  StepMeter meter;
  int64_t interval_steps = 0, interval_samples = 0;
  auto interval_start = std::chrono::steady_clock::now();
  const auto t0 = interval_start;
  std::string shown = "";  // the last logged loss, for the progress line
  int64_t step = result.start_step;
  for (; step < total; ++step) {
    const double lr = cosine_lr(step, total, warmup, cfg.lr, cfg.min_lr);
    set_lr(opt, lr);
    // Gradients reset to "none" (PyTorch 2's default), not to zero: a decoder that had no part
    // in a step (its modality was visible) is then left alone by AdamW, and a resumed run,
    // whose fresh parameters have no gradients yet, behaves exactly like an uninterrupted one.
    for (auto& p : net->parameters()) p.mutable_grad() = at::Tensor();
    for (int64_t a = 0; a < cfg.accum; ++a) {
      const int64_t micro = step * cfg.accum + a;
      data::Batch batch = feed.get(micro);
      if (denv.enabled()) batch = batch.rows(denv.rank * local_micro, local_micro);
      batch = batch.to(device, true);
      model::ForwardOptions fo;
      fo.gen = at::make_generator<at::CPUGeneratorImpl>(data::mix_seed(cfg.seed, static_cast<uint64_t>(micro)));
      fo.sample_offset = denv.rank * local_micro;
      fo.global_batch = local_micro * denv.world;
      if (pg) fo.gather_rows = [&pg](const torch::Tensor& t) { return pg->all_gather_rows(t); };
      model::FratMaeOutput out;
      {
        compat::CudaAutocast ac(autocast);
        out = net->forward(batch.ct, batch.pet, batch.text_ids, fo);
      }
      (out.loss / static_cast<double>(cfg.accum)).backward();
      meter.add("loss", out.loss / static_cast<double>(cfg.accum));
      meter.add("mse", out.mse / static_cast<double>(cfg.accum));
      if (out.align.defined()) meter.add("infonce", out.align / static_cast<double>(cfg.accum));
      interval_samples += batch.size() * denv.world;
    }
    if (pg) {
      pg->average_gradients(*net);
      const auto m = pg->mean({stop_request().load() != 0 ? 1.0 : 0.0});
      if (m[0] > 0 && stop_request().load() == 0) stop_request().store(SIGTERM);  // another rank was told to stop
    }
    if (cfg.clip_grad > 0) meter.add("grad_norm", clip_grad_norm(net->parameters(), cfg.clip_grad));
    opt.step();
    ++interval_steps;
    progress.advance(1, shown);
    const bool pause = cfg.stop_after > 0 && step + 1 - result.start_step >= cfg.stop_after && step + 1 < total;
    const bool last = step + 1 == total, stopping = stop_request().load() != 0 || pause;
    if ((step + 1) % cfg.log_every == 0 || last || stopping) {
      auto sums = meter.take();
      if (pg) {  // every rank logs at the same steps: average the interval's sums across ranks
        const auto m = pg->mean({sums["loss"], sums["mse"], sums["infonce"]});
        sums["loss"] = m[0], sums["mse"] = m[1], sums["infonce"] = m[2];
      }
      const auto now = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(now - interval_start).count();
      const double n = static_cast<double>(interval_steps);
      json m = {{"step", step + 1},
                {"epoch", (step * cfg.accum) / bpe},
                {"loss", sums["loss"] / n},
                {"mse", sums["mse"] / n},
                {"lr", lr},
                {"grad_norm", sums["grad_norm"] / n},
                {"samples_per_s", secs > 0 ? interval_samples / secs : 0.0},
                {"elapsed_s", std::chrono::duration<double>(now - t0).count()}};
      if (mc.context_align()) {
        m["infonce"] = sums["infonce"] / n;
        m["temperature"] = std::exp(-net->align->log_inv_tau.item<double>());
      }
      if (lead) {
        errno = 0;
        metrics_file << m.dump() << "\n" << std::flush;
        if (!metrics_file) throw FileError(run / "metrics.jsonl", write_failure(errno));
      }
      metrics.push_back(m);
      shown = "loss " + std::to_string(m["loss"].get<double>()).substr(0, 6);
      interval_steps = interval_samples = 0;
      interval_start = now;
    }
    if ((step + 1) % cfg.checkpoint_every == 0 || last || stopping) save(step + 1);
    if (stopping) {
      result.interrupted = stop_request().load() != 0;
      ++step;
      if (result.interrupted)
        spdlog::warn("stopped by signal {} after step {}; checkpoint written, continue with --resume",
                     stop_request().load(), step);
      else
        spdlog::info("paused after step {} (--stop-after); continue with --resume", step);
      break;
    }
  }
  result.steps_done = step;
  progress.finish();
  std::tie(result.first_loss, result.last_loss) = loss_ends(metrics);
  return result;
}

void export_encoders(const fs::path& run, const fs::path& out) {
  const auto ck = latest_checkpoint(run);
  if (!ck) throw FileError(run, "has no checkpoint to export (run `fratmae pretrain` first)");
  const auto weights = load_checkpoint_weights(*ck);
  std::map<std::string, at::Tensor> keep;
  for (const auto& [name, t] : weights)
    for (const char* prefix : {"pet_encoder.", "ct_encoder.", "text_encoder.", "align."})
      if (name.rfind(prefix, 0) == 0) keep[name] = t;
  const json cfg = json::parse(read_file(run / "config.json"));
  save_safetensors(out, keep, {{"format", "fratmae-encoders"}, {"model", cfg["model"].dump()},
                               {"checkpoint", ck->filename().string()}});
}

}  // namespace fratmae::train
