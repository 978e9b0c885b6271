#include "train/distributed.h"

#include <spdlog/spdlog.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

#define FRATMAE_COMPAT_C10D
#include "core/error.h"
#include "core/torch_compat.h"

namespace fratmae::train {

namespace {
const char* env(const char* a, const char* b = nullptr) {
  const char* v = std::getenv(a);
  if (!v && b) v = std::getenv(b);
  return v;
}
int int_env(const char* a, const char* b, int fallback) {
  const char* v = env(a, b);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end) throw Error(std::string("environment variable ") + a + " is not an integer: '" + v + "'");
  return static_cast<int>(x);
}
}  // namespace

DistEnv DistEnv::from_environment() {
  DistEnv e;
  e.world = int_env("WORLD_SIZE", "SLURM_NTASKS", 1);
  e.rank = int_env("RANK", "SLURM_PROCID", 0);
  e.local_rank = int_env("LOCAL_RANK", "SLURM_LOCALID", 0);
  if (const char* a = env("MASTER_ADDR")) e.master_addr = a;
  e.master_port = int_env("MASTER_PORT", nullptr, 29500);
  if (e.world < 1 || e.rank < 0 || e.rank >= e.world)
    throw Error("distributed: RANK " + std::to_string(e.rank) + " is outside WORLD_SIZE " + std::to_string(e.world));
  if (e.master_port <= 0 || e.master_port > 65535) throw Error("distributed: MASTER_PORT must be 1..65535");
  return e;
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::C10dBackend> pg;
  torch::Device device = torch::kCPU;  // where collectives' own tensors live (CUDA for NCCL)
};

ProcessGroup::ProcessGroup(const DistEnv& e, const std::string& backend) : impl_(std::make_unique<Impl>()), env_(e) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(e.master_port);
  so.isServer = e.rank == 0;
  so.numWorkers = e.world;
  so.timeout = std::chrono::minutes(5);
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(e.master_addr, so);
    if (backend == "nccl") {
#ifdef USE_C10D_NCCL
      impl_->device = torch::Device(torch::kCUDA, e.local_rank);
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, e.rank, e.world);
#else
      throw Error("distributed: this LibTorch has no NCCL; use the gloo backend (CPU)");
#endif
    } else {
      auto opts = c10d::ProcessGroupGloo::Options::create();
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, e.rank, e.world, opts);
    }
  } catch (const c10::Error& err) {
    throw Error("distributed: cannot join the process group at " + e.master_addr + ":" +
                std::to_string(e.master_port) + " as rank " + std::to_string(e.rank) + " of " +
                std::to_string(e.world) + ": " + err.what_without_backtrace());
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::average_gradients(torch::nn::Module& module, double bucket_mb) {
  std::vector<torch::Tensor> params = module.parameters();
  // Which parameters have a gradient anywhere.
  auto has = torch::zeros({static_cast<int64_t>(params.size())}, torch::kFloat);
  for (size_t i = 0; i < params.size(); ++i) has[i] = params[i].grad().defined() ? 1.0f : 0.0f;
  has = has.to(impl_->device);
  std::vector<torch::Tensor> flag{has};
  impl_->pg->allreduce(flag)->wait();
  has = has.cpu();
  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (has[i].item<float>() == 0) continue;
    if (!params[i].grad().defined()) params[i].mutable_grad() = torch::zeros_like(params[i]);
    grads.push_back(params[i].grad());
  }
  // Buckets: flatten, all-reduce, scatter back.
  const int64_t limit = static_cast<int64_t>(bucket_mb * 1024 * 1024);
  size_t i = 0;
  while (i < grads.size()) {
    std::vector<torch::Tensor> bucket;
    int64_t bytes = 0;
    const auto dtype = grads[i].scalar_type();
    while (i < grads.size() && (bucket.empty() || bytes < limit) && grads[i].scalar_type() == dtype) {
      bytes += grads[i].numel() * grads[i].element_size();
      bucket.push_back(grads[i++]);
    }
    std::vector<torch::Tensor> flats;
    for (auto& g : bucket) flats.push_back(g.reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(flats)};
    impl_->pg->allreduce(flat)->wait();
    flat[0].div_(env_.world);
    int64_t off = 0;
    for (auto& g : bucket) {
      g.copy_(flat[0].narrow(0, off, g.numel()).view_as(g));
      off += g.numel();
    }
  }
}

void ProcessGroup::broadcast_state(torch::nn::Module& module) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> all = module.parameters();
  for (auto& b : module.buffers()) all.push_back(b);
  for (auto& t : all) {
    std::vector<torch::Tensor> one{t.data()};
    impl_->pg->broadcast(one)->wait();
  }
}

torch::Tensor ProcessGroup::all_gather_rows(const torch::Tensor& local) {
  const int64_t W = env_.world;
  const torch::Tensor mine = local.detach().contiguous().to(impl_->device);
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int64_t r = 0; r < W; ++r) out[0].push_back(torch::empty_like(mine));
  std::vector<torch::Tensor> in{mine};
  impl_->pg->allgather(out, in)->wait();
  std::vector<torch::Tensor> rows;
  for (int64_t r = 0; r < W; ++r)
    rows.push_back(r == env_.rank ? local * static_cast<double>(W) - local.detach() * static_cast<double>(W - 1)
                                  : out[0][static_cast<size_t>(r)].to(local.device()));
  return torch::cat(rows, 0);
}

std::vector<double> ProcessGroup::mean(const std::vector<double>& values) {
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kDouble).to(impl_->device)};
  impl_->pg->allreduce(t)->wait();
  const torch::Tensor r = (t[0] / env_.world).cpu();
  return std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + values.size());
}

std::vector<std::string> ProcessGroup::gather_strings(const std::string& mine, std::chrono::minutes timeout) {
  const std::string prefix = "fratmae/gather/" + std::to_string(gathers_++) + "/";
  const std::string key = prefix + std::to_string(env_.rank);
  impl_->store->set(key, std::vector<uint8_t>(mine.begin(), mine.end()));
  if (env_.rank != 0) return {};
  std::vector<std::string> all;
  for (int r = 0; r < env_.world; ++r) {
    const std::string k = prefix + std::to_string(r);
    try {
      impl_->store->wait({k}, timeout);
    } catch (const c10::Error& e) {
      throw Error("distributed: rank " + std::to_string(r) + " did not send its results within " +
                  std::to_string(timeout.count()) + " minutes: " + e.what_without_backtrace());
    }
    const std::vector<uint8_t> v = impl_->store->get(k);
    all.emplace_back(v.begin(), v.end());
    impl_->store->deleteKey(k);
  }
  return all;
}

void ProcessGroup::barrier() { impl_->pg->barrier()->wait(); }

std::unique_ptr<ProcessGroup> join_process_group(const DistEnv& env, std::string& device) {
  if (!env.enabled()) return nullptr;
  if (device == "cuda") device = "cuda:" + std::to_string(env.local_rank);
  auto pg = std::make_unique<ProcessGroup>(env, device.rfind("cuda", 0) == 0 ? "nccl" : "gloo");
  if (env.rank != 0) spdlog::set_level(spdlog::level::warn);
  return pg;
}

}  // namespace fratmae::train
