#include "data/phantom_source.h"

namespace fratmae::data {

CaseArrays phantom_case_arrays(const phantom::PhantomCase& c, const phantom::PhantomConfig& cfg, int64_t index) {
  CaseArrays a;
  a.meta.id = c.meta.case_id;
  a.meta.tracer = c.meta.tracer;
  a.meta.diagnosis = c.meta.diagnosis;
  a.meta.age = c.meta.age;
  a.meta.sex = c.meta.sex;
  a.meta.stage = c.meta.stage;
  a.ct = c.ct.cpu();    // (H, W, D) HU
  a.suv = c.suv.cpu();  // (H, W, D) SUV
  a.seg = c.seg.cpu();  // (H, W, D) 0/1
  a.spacing = c.grid.spacing;
  a.source_geometry = c.grid.geometry();
  a.sources = {{"phantom", {{"preset", cfg.preset}, {"cohort", cfg.cohort}, {"seed", cfg.seed}, {"index", index}}}};
  return a;
}

std::vector<CaseJob> phantom_jobs(const phantom::PhantomConfig& cfg) {
  cfg.validate();
  std::vector<CaseJob> jobs;
  for (int64_t i = 0; i < cfg.cases; ++i) {
    CaseJob j;
    j.id = phantom::sample_metadata(cfg, i).case_id;
    j.signature = "phantom:" + cfg.preset + ":" + cfg.cohort + ":" + std::to_string(cfg.seed) + ":" + std::to_string(i);
    j.load = [cfg, i] { return phantom_case_arrays(phantom::generate_case(cfg, i), cfg, i); };
    jobs.push_back(std::move(j));
  }
  return jobs;
}

}  // namespace fratmae::data
