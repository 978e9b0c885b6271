#include "infer/cache_eval.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include "core/provenance.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/torch_compat.h"
#include "data/normalize.h"
#include "eval/classification.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::infer {

SlidingWindowResult segment_volume(model::SegmentationNet& net, const at::Tensor& ct, const at::Tensor& pet,
                                   SlidingWindowConfig sw, const torch::Device& device, bool bf16,
                                   Progress* progress) {
  sw.window = net->cfg.input;
  const bool autocast = device.is_cuda() && bf16;
  net->eval();
  auto predict = [&](const at::Tensor& c, const at::Tensor& p) {
    compat::CudaAutocast ac(autocast);
    return net->foreground_probability(c.to(device), p.to(device));
  };
  return sliding_window(ct.to(device), pet.to(device), predict, sw, progress);
}

namespace {
std::string num(double v) {
  if (std::isnan(v)) return "";
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}
}  // namespace

json summarize_segmentation(const std::vector<eval::SegMetrics>& cases, const eval::BootstrapOptions& bo) {
  json s = json::object();
  for (const auto& name : eval::SegMetrics::names()) {
    std::vector<double> v;
    for (const auto& m : cases) v.push_back(m.get(name));
    s[name] = eval::bootstrap_mean(v, bo).to_json();
  }
  return s;
}

SegEvaluation evaluate_segmentation(model::SegmentationNet& net, const data::Cache& cache,
                                    const std::vector<int64_t>& cases, const SlidingWindowConfig& sw,
                                    const torch::Device& device, bool bf16, const eval::BootstrapOptions& bo,
                                    bool keep_masks, bool show_progress) {
  SegEvaluation e;
  SlidingWindowConfig counted = sw;
  counted.window = net->cfg.input;
  int64_t windows = 0;
  for (int64_t i : cases) {
    const auto& c = cache.at(i);
    if (c.nat_ct.defined() && c.nat_seg.defined())
      windows += count_windows(data::dequantize_int16(c.nat_ct), counted);
  }
  std::optional<Progress> progress;
  if (show_progress) progress.emplace("evaluate segmentation", windows, "windows");
  for (int64_t i : cases) {
    const auto& c = cache.at(i);
    if (!c.nat_ct.defined() || !c.nat_seg.defined()) continue;
    const at::Tensor ct = data::dequantize_int16(c.nat_ct), pet = data::dequantize_int16(c.nat_pet);
    const SlidingWindowResult r = segment_volume(net, ct, pet, sw, device, bf16, progress ? &*progress : nullptr);
    const double voxel_ml = c.nat_spacing[0] * c.nat_spacing[1] * c.nat_spacing[2] / 1000.0;
    e.ids.push_back(c.id);
    e.cases.push_back(eval::segmentation_metrics(r.mask, c.nat_seg, voxel_ml));
    for (const auto& l : eval::lesion_detection(r.mask, c.nat_seg, voxel_ml)) e.lesions.push_back(l);
    if (keep_masks) e.masks.push_back(r.mask);
  }
  if (progress) progress->finish();
  e.summary = summarize_segmentation(e.cases, bo);
  e.detection = eval::detection_by_size(e.lesions);
  return e;
}

StageEvaluation evaluate_staging(model::StagingNet& net, std::shared_ptr<const data::Cache> cache,
                                 const std::vector<int64_t>& cases, const data::LoaderConfig& loader_cfg,
                                 const torch::Device& device, bool bf16, const eval::BootstrapOptions& bo) {
  StageEvaluation e;
  data::LoaderConfig lc = loader_cfg;
  lc.workers = 0;
  data::BatchLoader loader(cache, cases, lc);
  net->eval();
  torch::NoGradGuard ng;
  const bool autocast = device.is_cuda() && bf16;
  for (int64_t s = 0; s < loader.batches_per_epoch(); ++s) {
    const data::Batch b = loader.batch_at(0, s).to(device);
    at::Tensor prob;
    {
      compat::CudaAutocast ac(autocast);
      prob = torch::softmax(net->forward(b.ct, b.pet).to(torch::kFloat), 1).cpu();
    }
    const at::Tensor idx = b.case_index.cpu(), lab = b.stage_label.cpu();
    for (int64_t r = 0; r < b.size(); ++r) {
      e.ids.push_back(cache->at(idx[r].item<int64_t>()).id);
      e.truth.push_back(lab[r].item<int64_t>());
      e.p_advanced.push_back(prob[r][1].item<double>());
      e.pred.push_back(prob[r].argmax().item<int64_t>());
    }
  }
  summarize_staging(e, bo);
  return e;
}

void summarize_staging(StageEvaluation& e, const eval::BootstrapOptions& bo) {
  const auto stat = [&](auto fn) {
    return eval::bootstrap(static_cast<int64_t>(e.truth.size()), [&](const std::vector<int64_t>& idx) {
      std::vector<int64_t> p, t;
      for (int64_t i : idx) p.push_back(e.pred[static_cast<size_t>(i)]), t.push_back(e.truth[static_cast<size_t>(i)]);
      return fn(p, t);
    }, bo);
  };
  e.summary = {{"accuracy", stat(eval::accuracy).to_json()},
               {"macro_sensitivity", stat(eval::macro_sensitivity).to_json()}};
}

namespace {
// The cases of every share, each a JSON object with "case", in the order of `ids`.
std::vector<json> cases_in_order(const std::vector<std::string>& shares, const std::vector<std::string>& ids) {
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < ids.size(); ++i) position[ids[i]] = i;
  std::vector<std::pair<size_t, json>> found;
  for (const std::string& s : shares) {
    json share = json::parse(s);
    for (json& c : share.at("cases")) {
      const std::string id = c.at("case").get<std::string>();
      const auto at = position.find(id);
      if (at == position.end()) throw Error("evaluation: a process scored case " + id + ", which is not in the split");
      found.emplace_back(at->second, std::move(c));
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<json> cases;
  for (auto& [pos, c] : found) cases.push_back(std::move(c));
  return cases;
}
}  // namespace

std::string share_text(const SegEvaluation& e) {
  json cases = json::array();
  size_t l = 0;
  for (size_t i = 0; i < e.ids.size(); ++i) {
    // A case's lesions are the next truth_lesions entries of e.lesions (one per truth component).
    json lesions = json::array();
    for (int64_t k = 0; k < e.cases[i].truth_lesions && l < e.lesions.size(); ++k, ++l)
      lesions.push_back({e.lesions[l].volume_ml, e.lesions[l].detected});
    cases.push_back({{"case", e.ids[i]}, {"metrics", e.cases[i].to_json()}, {"lesions", lesions}});
  }
  return json{{"cases", cases}}.dump();
}

std::string share_text(const StageEvaluation& e) {
  json cases = json::array();
  for (size_t i = 0; i < e.ids.size(); ++i)
    cases.push_back({{"case", e.ids[i]}, {"truth", e.truth[i]}, {"pred", e.pred[i]}, {"p_advanced", e.p_advanced[i]}});
  return json{{"cases", cases}}.dump();
}

SegEvaluation seg_evaluation_from_shares(const std::vector<std::string>& shares, const std::vector<std::string>& ids,
                                         const eval::BootstrapOptions& bo) {
  SegEvaluation e;
  for (const json& c : cases_in_order(shares, ids)) {
    e.ids.push_back(c["case"].get<std::string>());
    e.cases.push_back(eval::SegMetrics::from_json(c.at("metrics")));
    for (const json& l : c.at("lesions")) e.lesions.push_back({l.at(0).get<double>(), l.at(1).get<bool>()});
  }
  e.summary = summarize_segmentation(e.cases, bo);
  e.detection = eval::detection_by_size(e.lesions);
  return e;
}

StageEvaluation stage_evaluation_from_shares(const std::vector<std::string>& shares, const std::vector<std::string>& ids,
                                             const eval::BootstrapOptions& bo) {
  StageEvaluation e;
  for (const json& c : cases_in_order(shares, ids)) {
    e.ids.push_back(c["case"].get<std::string>());
    e.truth.push_back(c.at("truth").get<int64_t>());
    e.pred.push_back(c.at("pred").get<int64_t>());
    e.p_advanced.push_back(c.at("p_advanced").get<double>());
  }
  summarize_staging(e, bo);
  return e;
}

json evaluation_json(const SegEvaluation& e) {
  json per_case = json::array();
  for (size_t i = 0; i < e.ids.size(); ++i) {
    json j = e.cases[i].to_json();
    j["case"] = e.ids[i];
    per_case.push_back(j);
  }
  return {{"task", "seg"},
          {"summary", e.summary},
          {"detection_by_size", e.detection},
          {"cases", per_case},
          {"conventions", "Dice, IoU and sensitivity over cases with lesions; FP volume over all cases; "
                          "18-connected components; 95% bootstrap CI over cases"}};
}

std::string evaluation_csv(const SegEvaluation& e) {
  std::string csv = "case";
  for (const auto& n : eval::SegMetrics::names()) csv += "," + n;
  csv += "\n";
  for (size_t i = 0; i < e.ids.size(); ++i) {
    csv += e.ids[i];
    for (const auto& n : eval::SegMetrics::names()) csv += "," + num(e.cases[i].get(n));
    csv += "\n";
  }
  return csv;
}

json evaluation_json(const StageEvaluation& e) {
  json per_case = json::array();
  for (size_t i = 0; i < e.ids.size(); ++i)
    per_case.push_back({{"case", e.ids[i]}, {"truth", e.truth[i]}, {"prediction", e.pred[i]}, {"p_advanced", e.p_advanced[i]}});
  return {{"task", "stage"}, {"classes", {"early (I-II)", "advanced (III-IV)"}}, {"summary", e.summary}, {"cases", per_case}};
}

std::string evaluation_csv(const StageEvaluation& e) {
  std::string csv = "case,truth,prediction,p_advanced\n";
  for (size_t i = 0; i < e.ids.size(); ++i)
    csv += e.ids[i] + "," + std::to_string(e.truth[i]) + "," + std::to_string(e.pred[i]) + "," + num(e.p_advanced[i]) + "\n";
  return csv;
}

namespace {
template <class E>
void write_both(const fs::path& dir, const E& e, const json& model) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  json j = evaluation_json(e);
  j["provenance"] = provenance();
  if (!model.is_null()) j["model"] = model;
  write_file_atomic(dir / "metrics.json", j.dump(2) + "\n");
  write_file_atomic(dir / "cases.csv", evaluation_csv(e));
}
}  // namespace

void write_evaluation(const fs::path& dir, const SegEvaluation& e, const json& model) { write_both(dir, e, model); }
void write_evaluation(const fs::path& dir, const StageEvaluation& e, const json& model) { write_both(dir, e, model); }

}  // namespace fratmae::infer
