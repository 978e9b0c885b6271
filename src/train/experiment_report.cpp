#include "train/experiment_report.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "core/atomic_output.h"
#include "core/error.h"
#include "eval/classification.h"
#include "eval/compare.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::train {

const std::vector<std::string>& report_metrics(const std::string& task) {
  static const std::vector<std::string> seg{"dice", "iou", "sensitivity", "precision", "fp_volume_ml", "pred_lesions",
                                            "truth_lesions"};
  static const std::vector<std::string> stage{"accuracy", "macro_sensitivity"};
  return task == "seg" ? seg : stage;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double number(const json& v) { return v.is_number() ? v.get<double>() : kNaN; }

// One results file: per case id, its record.
std::map<std::string, json> read_cases(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw FileError(file, "is missing (did the run finish its test evaluation?)");
  const json j = json::parse(read_file(file), nullptr, false);
  if (j.is_discarded() || !j.contains("cases") || !j["cases"].is_array())
    throw FileError(file, "is not a test-results file (no \"cases\" list)");
  std::map<std::string, json> out;
  for (const json& c : j["cases"]) out[c.at("case").get<std::string>()] = c;
  return out;
}

struct TaskData {
  std::vector<std::string> ids;  // the test cases, sorted
  // per setting key: per seed: per case record
  std::map<std::string, std::vector<std::vector<json>>> records;
};

std::map<std::string, TaskData> load(const std::vector<SettingSpec>& settings) {
  std::map<std::string, TaskData> tasks;
  std::map<std::string, fs::path> first_file;
  for (const SettingSpec& s : settings) {
    if (s.results.empty()) throw Error("experiment report: setting " + s.key + " has no results");
    TaskData& t = tasks[s.task];
    auto& seeds = t.records[s.key];
    for (const fs::path& f : s.results) {
      const auto cases = read_cases(f);
      if (t.ids.empty() && !first_file.count(s.task)) {
        for (const auto& [id, c] : cases) t.ids.push_back(id);
        first_file[s.task] = f;
      }
      if (cases.size() != t.ids.size())
        throw FileError(f, "scores " + std::to_string(cases.size()) + " test cases, " + first_file[s.task].string() +
                               " " + std::to_string(t.ids.size()) + ": the runs were not evaluated on the same split");
      std::vector<json> row;
      for (const std::string& id : t.ids) {
        const auto it = cases.find(id);
        if (it == cases.end()) throw FileError(f, "has no result for test case " + id);
        row.push_back(it->second);
      }
      seeds.push_back(std::move(row));
    }
  }
  return tasks;
}

// The statistic of one setting on one metric, over the cases `use` (indices into TaskData::ids).
eval::SeededStatistic statistic(const std::vector<std::vector<json>>& seeds, const std::string& task,
                                const std::string& metric, const std::vector<int64_t>& use) {
  if (task == "seg") {
    std::vector<std::vector<double>> v;
    for (const auto& cases : seeds) {
      std::vector<double> x;
      for (int64_t i : use) x.push_back(number(cases[static_cast<size_t>(i)].value(metric, json())));
      v.push_back(std::move(x));
    }
    return eval::mean_over_cases(std::move(v));
  }
  std::vector<std::vector<int64_t>> preds;
  std::vector<int64_t> truth;
  for (int64_t i : use) truth.push_back(seeds.front()[static_cast<size_t>(i)].at("truth").get<int64_t>());
  for (const auto& cases : seeds) {
    std::vector<int64_t> p;
    for (int64_t i : use) p.push_back(cases[static_cast<size_t>(i)].at("prediction").get<int64_t>());
    preds.push_back(std::move(p));
  }
  return eval::classification_statistic(std::move(preds), std::move(truth),
                                        metric == "accuracy" ? eval::accuracy : eval::macro_sensitivity);
}

// Cases where every run of the task defines `metric`.
std::vector<int64_t> defined_cases(const TaskData& t, const std::string& task, const std::string& metric) {
  std::vector<int64_t> use;
  for (size_t i = 0; i < t.ids.size(); ++i) {
    bool ok = true;
    if (task == "seg")
      for (const auto& [key, seeds] : t.records)
        for (const auto& cases : seeds) ok = ok && !std::isnan(number(cases[i].value(metric, json())));
    if (ok) use.push_back(static_cast<int64_t>(i));
  }
  return use;
}

}  // namespace

json aggregate_results(const std::vector<SettingSpec>& settings, const std::vector<ComparisonSpec>& comparisons,
                       const eval::BootstrapOptions& bo, const fs::path& relative_to) {
  const auto tasks = load(settings);
  std::map<std::string, const SettingSpec*> by_key;
  for (const SettingSpec& s : settings) by_key[s.key] = &s;
  json out = {{"settings", json::object()}, {"order", json::array()}, {"comparisons", json::array()}};
  for (const SettingSpec& s : settings) {
    const TaskData& t = tasks.at(s.task);
    const auto& seeds = t.records.at(s.key);
    json runs = json::array();
    for (const fs::path& f : s.results) runs.push_back(fs::relative(f, relative_to).string());
    json metrics = json::object();
    for (const std::string& m : report_metrics(s.task)) {
      const std::vector<int64_t> use = defined_cases(t, s.task, m);
      metrics[m] = eval::summarize_setting(static_cast<int64_t>(use.size()), statistic(seeds, s.task, m, use), bo).to_json();
    }
    json entry = {{"task", s.task}, {"label", s.label}, {"runs", runs}, {"metrics", metrics}};
    if (s.task == "seg") {  // detection by lesion size, pooled over seeds
      json pooled = json::array();
      for (const fs::path& f : s.results) {
        const json j = json::parse(read_file(f));
        if (!j.contains("detection_by_size")) continue;
        if (pooled.empty()) pooled = j["detection_by_size"];
        else
          for (size_t b = 0; b < pooled.size(); ++b) {
            pooled[b]["lesions"] = pooled[b]["lesions"].get<int64_t>() + j["detection_by_size"][b]["lesions"].get<int64_t>();
            pooled[b]["detected"] = pooled[b]["detected"].get<int64_t>() + j["detection_by_size"][b]["detected"].get<int64_t>();
          }
      }
      for (json& b : pooled) {
        const auto n = b["lesions"].get<int64_t>();
        b["sensitivity"] = n ? json(b["detected"].get<double>() / static_cast<double>(n)) : json(nullptr);
      }
      entry["detection_by_size"] = pooled;
    }
    out["settings"][s.key] = entry;
    out["order"].push_back(s.key);
  }
  for (const ComparisonSpec& c : comparisons) {
    if (!by_key.count(c.a) || !by_key.count(c.b)) throw Error("experiment report: unknown setting in " + c.what);
    const SettingSpec &a = *by_key[c.a], &b = *by_key[c.b];
    if (a.task != b.task) throw Error("experiment report: " + c.what + " compares two tasks");
    const TaskData& t = tasks.at(a.task);
    json metrics = json::object();
    for (const std::string& m : report_metrics(a.task)) {
      if (m == "truth_lesions" || m == "precision") continue;
      const std::vector<int64_t> use = defined_cases(t, a.task, m);
      const auto n = static_cast<int64_t>(use.size());
      const eval::Interval d = eval::paired_difference(n, statistic(t.records.at(c.a), a.task, m, use),
                                                       statistic(t.records.at(c.b), b.task, m, use), bo);
      json dj = d.to_json();
      dj["verdict"] = eval::verdict(d);
      metrics[m] = dj;
    }
    out["comparisons"].push_back(
        {{"what", c.what}, {"task", a.task}, {"a", c.a}, {"b", c.b}, {"claim", c.claim}, {"metrics", metrics}});
  }
  return out;
}

namespace {

std::string fmt(double v, int digits = 3) {
  if (std::isnan(v)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof(b), "%.*f", digits, v);
  return b;
}

// "0.640 (0.599-0.678) sd 0.012" from a SettingSummary's JSON.
std::string cell(const json& metrics, const std::string& key, int digits = 3) {
  if (!metrics.is_object() || !metrics.contains(key)) return "n/a";
  const json& m = metrics[key];
  const eval::Interval iv = eval::Interval::from_json(m);
  std::string s = iv.to_string(digits);
  if (m.contains("per_seed") && m["per_seed"].size() > 1 && m["seed_sd"].is_number())
    s += " sd " + fmt(m["seed_sd"].get<double>(), digits);
  return s;
}

std::string diff_cell(const json& d, int digits = 3) {
  const eval::Interval iv = eval::Interval::from_json(d);
  if (std::isnan(iv.value)) return "n/a";
  char b[96];
  std::snprintf(b, sizeof(b), "%+.*f (%+.*f to %+.*f)", digits, iv.value, digits, iv.lo, digits, iv.hi);
  return b;
}

// What the segmentation control's verdict (trained minus frozen random encoders) says.
std::string seg_control_reading(const std::string& verdict) {
  if (verdict == "above 0") return "The encoders contribute here: what they learn reaches the segmentation.";
  if (verdict == "includes 0")
    return "No measurable difference on these cases: the segmentation is not shown to use what its encoders "
           "learn, so read Table 3's segmentation differences with that in mind.";
  if (verdict == "below 0")
    return "**Frozen random encoders segment better than trained ones**: training the encoders disturbs the "
           "decoder here, and Table 3's segmentation differences may measure that rather than what a "
           "pre-training teaches.";
  return "Not defined on these cases (no test case with a lesion).";
}

const json& metrics_of(const json& r, const std::string& key) {
  static const json none = json::object();
  if (!r.contains("settings") || !r["settings"].contains(key)) return none;
  return r["settings"][key]["metrics"];
}

// The headline metrics of a comparison's task, for the findings.
const char* headline(const std::string& task) { return task == "seg" ? "dice" : "accuracy"; }

}  // namespace

std::string floor_caveat(const json& comparisons, const json& claim) {
  auto is_floor = [](const std::string& key) { return key.find("/floor_") != std::string::npos; };
  const std::string a = claim.value("a", std::string()), b = claim.value("b", std::string());
  const char* m = headline(claim.value("task", std::string()));
  if (is_floor(b) || !claim["metrics"].contains(m) || claim["metrics"][m]["verdict"] != "above 0") return "";
  std::string against;
  for (const json& c : comparisons) {
    if (c.value("a", std::string()) != a || !is_floor(c.value("b", std::string())) || !c["metrics"].contains(m)) continue;
    if (c["metrics"][m]["verdict"] == "above 0") return "";
    against += std::string(against.empty() ? "" : "; ") + c["what"].get<std::string>() + ", " +
               (std::string(m) == "dice" ? "Dice " : "accuracy ") + diff_cell(c["metrics"][m]);
  }
  if (against.empty()) return "";
  return " - **but A does not beat the floor** (" + against +
         "): a difference between models no better than the floor, not the paper's effect";
}

std::string experiment_markdown(const json& r) {
  const json& d = r["data"];
  std::string md = "# FratMAE experiment (`" + r["preset"].get<std::string>() + "` preset)\n\n";
  md += "Phantom cohorts (" + d["phantom"].get<std::string>() + " grid): " +
        std::to_string(d["pretraining_cases"].get<int64_t>()) + " pre-training cases, " +
        std::to_string(d["segmentation_cases"].get<int64_t>()) + " segmentation cases (" +
        std::to_string(d["segmentation_test_cases"].get<int64_t>()) + " tested, " +
        std::to_string(d["segmentation_test_lesion_cases"].get<int64_t>()) + " of them with lesions), " +
        std::to_string(d["staging_cases"].get<int64_t>()) + " Hodgkin staging cases (" +
        std::to_string(d["staging_test_cases"].get<int64_t>()) + " tested). Model: `" + r["model"].get<std::string>() + "` (staging: encoder tokens pooled by `" +
        r["schedule"].value("staging_pool", std::string("mean")) +
        "`). Every fine-tuning setting was run with " + std::to_string(r["seeds"].get<int64_t>()) +
        " seed(s) on the same split; the segmentation test scores come from sliding windows over the body's "
        "bounding box with overlap " +
        fmt(r["schedule"]["sliding_window_overlap"].get<double>(), 2) +
        " (`fratmae predict` uses the same by default). A cell is the mean over seeds (95% CI from " +
        std::to_string(r["bootstrap"]["samples"].get<int64_t>()) +
        " bootstrap samples over test cases of the seed mean) and, with several seeds, the standard deviation "
        "across seeds. Dice and IoU: lesion segmentation over the test cases with lesions; sens. (macro "
        "sensitivity) and acc. (accuracy): Ann Arbor staging, early (I-II) vs advanced (III-IV). Synthetic data and "
        "a small model: the numbers test the protocol and the direction of the paper's effects, not its values.\n\n";

  md += "## Findings\n\n";
  // The aim for intervals that mean something: 40+ segmentation and 60+ staging test cases.
  const int64_t seg_n = d["segmentation_test_lesion_cases"].get<int64_t>(), stage_n = d["staging_test_cases"].get<int64_t>();
  if (seg_n < 20 || stage_n < 40 || r["seeds"].get<int64_t>() < 3)
    md += "**Too small to separate the settings:** " + std::to_string(seg_n) + " segmentation test cases with lesions, " +
          std::to_string(stage_n) + " staging test cases, " + std::to_string(r["seeds"].get<int64_t>()) +
          " seed(s). A claim \"shown\" here is indicative only and may not repeat on other cases or seeds; "
          "`--preset cpu` (27 lesion cases, 60 staging cases, 3 seeds) is sized to measure them.\n\n";
  md += "What each claim needs: A - B above 0 on its headline metric (Dice for segmentation, accuracy for staging), "
        "a paired difference on the same test cases with its 95% bootstrap CI.\n\n";
  for (const json& c : r["comparisons"]) {
    const std::string claim = c.value("claim", std::string());
    const char* m = headline(c["task"]);
    if (claim.empty() || !c["metrics"].contains(m)) continue;
    const json& dm = c["metrics"][m];
    const std::string v = dm["verdict"].get<std::string>();
    md += "- " + claim + ": **" + (v == "above 0" ? std::string("shown") : v == "below 0" ? std::string("reversed") : std::string("not shown")) +
          "** (" + c["what"].get<std::string>() + ", " + (std::string(m) == "dice" ? "Dice" : "accuracy") + " " +
          diff_cell(dm) + ", n = " + std::to_string(dm["n"].get<int64_t>()) + ")" + floor_caveat(r["comparisons"], c) + "\n";
  }
  md += "\nAll headline comparisons (A - B, 95% CI; \"above 0\": A better on these cases beyond the resampling noise):\n\n";
  for (const json& c : r["comparisons"]) {
    const char* m = headline(c["task"]);
    if (!c["metrics"].contains(m)) continue;
    const json& dm = c["metrics"][m];
    md += "- " + c["what"].get<std::string>() + ": " + (std::string(m) == "dice" ? "Dice" : "accuracy") + " " +
          diff_cell(dm) + ", " + dm["verdict"].get<std::string>() + " (n = " + std::to_string(dm["n"].get<int64_t>()) +
          ")\n";
  }
  if (r.contains("findings"))
    for (const json& f : r["findings"]) md += "- " + f.get<std::string>() + "\n";

  md += "\n## Table 2: input stacks (no pre-training, whole training split)\n\n";
  md += "| approach | Dice (95% CI) | IoU (95% CI) | sens. (95% CI) | acc. (95% CI) |\n|---|---|---|---|---|\n";
  for (const json& row : r["table2"]) {
    const json &s = metrics_of(r, row["seg_key"]), &t = metrics_of(r, row["stage_key"]);
    md += "| " + row["approach"].get<std::string>() + " | " + cell(s, "dice") + " | " + cell(s, "iou") + " | " +
          cell(t, "macro_sensitivity") + " | " + cell(t, "accuracy") + " |\n";
  }
  md += "\n## Table 3: pre-training settings\n\n";
  md += "| train set | setting | Dice (95% CI) | IoU (95% CI) | sens. (95% CI) | acc. (95% CI) |\n"
        "|---|---|---|---|---|---|\n";
  for (const json& row : r["table3"]) {
    const json &s = metrics_of(r, row["seg_key"]), &t = metrics_of(r, row["stage_key"]);
    md += "| " + row["train_set"].get<std::string>() + " | " + row["setting"].get<std::string>() + " | " +
          cell(s, "dice") + " | " + cell(s, "iou") + " | " + cell(t, "macro_sensitivity") + " | " +
          cell(t, "accuracy") + " |\n";
  }

  if (r.contains("seg_control") && r["seg_control"].is_string() &&
      r["settings"].contains(r["seg_control"].get<std::string>())) {
    // The control: is the Table 3 comparison able to see a pre-training through segmentation?
    const std::string ck = r["seg_control"].get<std::string>();
    md += "\n## Segmentation control: does segmentation use its encoders?\n\n";
    md += "A pre-training changes only the encoders. The 20% baseline was also trained with its encoders frozen "
          "at their random initialisation (only the UNETR decoder learning). Where that scores as well as the "
          "baseline, the segmentation does not depend on what its encoders learn in fine-tuning; a pre-training "
          "can then still help only if the decoder reads pre-trained features better than random ones (the "
          "frozen staging probe measures those features directly).\n\n";
    md += "| encoders (20%) | Dice (95% CI) | IoU (95% CI) |\n|---|---|---|\n";
    for (const json& row : r["table3"])
      if (row["train_set"] == "20%" && row["setting"].get<std::string>().rfind("(1)", 0) == 0) {
        const json& s = metrics_of(r, row["seg_key"]);
        md += "| trained from random (the baseline) | " + cell(s, "dice") + " | " + cell(s, "iou") + " |\n";
      }
    const json& cs = metrics_of(r, ck);
    md += "| frozen at random | " + cell(cs, "dice") + " | " + cell(cs, "iou") + " |\n";
    for (const json& c : r["comparisons"])
      if (c.value("b", std::string()) == ck && c["metrics"].contains("dice")) {
        const json& dm = c["metrics"]["dice"];
        const std::string v = dm["verdict"].get<std::string>();
        md += "\nTrained minus frozen: Dice " + diff_cell(dm) + ", " + v + " (n = " +
              std::to_string(dm["n"].get<int64_t>()) + "). " + seg_control_reading(v) + "\n";
      }
  }

  // One table row per staging setting: its label, macro sensitivity and accuracy.
  auto staging_rows = [&](const json& keys) {
    std::string rows;
    for (const json& k : keys)
      rows += "| " + r["settings"][k.get<std::string>()]["label"].get<std::string>() + " | " +
              cell(metrics_of(r, k), "macro_sensitivity") + " | " + cell(metrics_of(r, k), "accuracy") + " |\n";
    return rows;
  };
  md += "\n## Reference floors (same test cases)\n\n";
  md += "Classic segmentations without learning (eval/reference_floors.h; SUV from the cache, clipped at its "
        "normalisation maximum) and, for staging, always the training split's majority class, and a learned floor: "
        "an MLP on the PET's and CT's maxima within 2 x 8 regions of the stack, no encoder (`finetune --pool input`, "
        "trained like the other staging settings).\n\n";
  md += "| floor | Dice (95% CI) | IoU (95% CI) | FP volume, mL | predicted lesions |\n|---|---|---|---|---|\n";
  for (const json& k : r["floors"]["seg"]) {
    const json& s = metrics_of(r, k);
    md += "| " + r["settings"][k.get<std::string>()]["label"].get<std::string>() + " | " + cell(s, "dice") + " | " +
          cell(s, "iou") + " | " + cell(s, "fp_volume_ml", 1) + " | " + cell(s, "pred_lesions", 1) + " |\n";
  }
  md += "\n| floor | sens. (95% CI) | acc. (95% CI) |\n|---|---|---|\n";
  md += staging_rows(r["floors"]["stage"]);

  if (r.contains("probe") && !r["probe"].empty()) {
    md += "\n## Frozen-encoder probe (staging, encoders frozen, only the MLP trained)\n\n";
    md += "| encoders | sens. (95% CI) | acc. (95% CI) |\n|---|---|---|\n";
    md += staging_rows(r["probe"]);
  }

  if (r.contains("stage_from_seg") && !r["stage_from_seg"].empty()) {
    md += "\n## Staging from the segmentation's lesions\n\n";
    const json d = r.value("lesion_detector", json());
    const std::string who =
        d.is_object() ? "The lesion detector (`" + d["run"].get<std::string>() + "`: the full-label segmentation setting, " +
                            std::to_string(d["steps"].get<int64_t>()) + " steps; test Dice " +
                            (d["dice"].value("value", json()).is_number() ? fmt(d["dice"]["value"].get<double>(), 3)
                                                                         : std::string("n/a")) +
                            ")"
                      : std::string("The full-label segmentation model");
    md += who + " segments every staging case; its lesions replace the PET (SUV 10 inside, 0.1 elsewhere) and the MLP "
          "without an encoder stages that map from its regional maxima (train/lesion_map.h). Same test cases as every "
          "staging row.\n\n";
    md += "| stack | sens. (95% CI) | acc. (95% CI) |\n|---|---|---|\n";
    md += staging_rows(r["stage_from_seg"]);
  }

  md += "\n## Segmentation in detail\n\n";
  md += "Per test case: voxel sensitivity and precision (cases with lesions), false-positive volume and predicted "
        "lesions (all cases; the truth has " +
        cell(metrics_of(r, r["floors"]["seg"][0]), "truth_lesions", 1) +
        " lesions per case); lesion detection sensitivity by truth lesion volume, pooled over seeds.\n\n";
  std::string bins_header;
  std::vector<std::string> seg_keys;
  for (const json& k : r.value("order", json::array()))
    if (r["settings"][k.get<std::string>()]["task"] == "seg") seg_keys.push_back(k.get<std::string>());
  if (!seg_keys.empty()) {
    const json& first = r["settings"][seg_keys.front()]["detection_by_size"];
    md += "| setting | sensitivity | precision | FP volume, mL | predicted lesions |";
    for (const json& b : first) md += " detected " + b["bin"].get<std::string>() + " |";
    md += "\n|---|---|---|---|---|";
    for (size_t i = 0; i < first.size(); ++i) md += "---|";
    md += "\n";
    for (const auto& k : seg_keys) {
      const json& s = r["settings"][k];
      md += "| " + s["label"].get<std::string>() + " | " + cell(s["metrics"], "sensitivity") + " | " +
            cell(s["metrics"], "precision") + " | " + cell(s["metrics"], "fp_volume_ml", 1) + " | " +
            cell(s["metrics"], "pred_lesions", 1) + " |";
      for (const json& b : s["detection_by_size"])
        md += " " + (b["sensitivity"].is_number() ? fmt(b["sensitivity"].get<double>(), 2) : std::string("n/a")) + " (" +
              std::to_string(b["detected"].get<int64_t>()) + "/" + std::to_string(b["lesions"].get<int64_t>()) + ") |";
      md += "\n";
    }
  }

  md += "\n## Every paired comparison\n\n";
  md += "| comparison | metric | A - B (95% CI) | verdict | cases |\n|---|---|---|---|---|\n";
  for (const json& c : r["comparisons"])
    for (const auto& [m, dm] : c["metrics"].items())
      md += "| " + c["what"].get<std::string>() + " | " + m + " | " + diff_cell(dm) + " | " +
            dm["verdict"].get<std::string>() + " | " + std::to_string(dm["n"].get<int64_t>()) + " |\n";

  md += "\n## Pictures\n\n";
  md += "- `pictures/pretrain_loss.svg`: pre-training loss of each variant.\n";
  md += "- `pictures/finetune_curves_seg.svg`, `pictures/finetune_curves_stage.svg`: validation Dice "
        "(segmentation) and accuracy (staging) during fine-tuning, first seed of each setting (every run's own curves: `finetune/<task>/<run>/seed<k>/loss.svg`).\n";
  md += "- `pictures/segmentation_examples.png`: coronal PET MIPs of the test case with the most lesion volume, "
        "outlines in red, left to right: " +
        r.value("examples", std::string("truth and predictions")) + ".\n";
  md += "\n## Time\n\n";
  for (const auto& [k, v] : r["seconds"].items()) {
    char line[80];
    std::snprintf(line, sizeof(line), "- %s: %.0f s\n", k.c_str(), v.get<double>());
    md += line;
  }
  md += "\nPer-case results: `finetune/<task>/<run>/seed<k>/test/cases.csv` and `floors/`; everything above: "
        "`report.json`.\n";
  return md;
}

}  // namespace fratmae::train
