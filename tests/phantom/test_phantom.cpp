#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "phantom/cohort.h"
#include "phantom/imaging.h"
#include "phantom/tissue.h"

using namespace fratmae;
using namespace fratmae::phantom;

namespace {

PhantomConfig config(const std::string& cohort = "autopet", uint64_t seed = 7) {
  PhantomConfig c;
  c.cohort = cohort;
  c.seed = seed;
  c.cases = 64;
  c.preset = "small";
  return c;
}

// First case index of the cohort whose metadata satisfies `pred`.
int64_t find_case(const PhantomConfig& cfg, const std::function<bool(const CaseMetadata&)>& pred) {
  for (int64_t i = 0; i < 500; ++i)
    if (pred(sample_metadata(cfg, i))) return i;
  ADD_FAILURE() << "no such case in the first 500";
  return 0;
}

double mean_in(const at::Tensor& img, const at::Tensor& mask) {
  return img.masked_select(mask).to(torch::kDouble).mean().item<double>();
}

// Voxels within `r` voxels of mask (box dilation).
at::Tensor dilate(const at::Tensor& mask, int r) {
  const auto m = mask.to(torch::kFloat).unsqueeze(0).unsqueeze(0);
  return torch::max_pool3d(m, {2 * r + 1, 2 * r + 1, 2 * r + 1}, {1, 1, 1}, {r, r, r}).squeeze() > 0.5;
}

class SingleThreaded : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = at::get_num_threads();
    at::set_num_threads(1);  // as `fratmae phantom` runs each case
  }
  void TearDown() override { at::set_num_threads(saved_); }
  int saved_ = 1;
};

}  // namespace

TEST_F(SingleThreaded, SameSeedSameBytes) {
  const PhantomConfig cfg = config();
  const PhantomCase a = generate_case(cfg, 3), b = generate_case(cfg, 3);
  EXPECT_TRUE(torch::equal(a.ct, b.ct));
  EXPECT_TRUE(torch::equal(a.suv, b.suv));
  EXPECT_TRUE(torch::equal(a.seg, b.seg));
  EXPECT_EQ(a.meta.case_id, b.meta.case_id);
  const PhantomCase c = generate_case(config("autopet", 8), 3);
  EXPECT_FALSE(torch::equal(a.suv, c.suv));
}

TEST(Phantom, GridsAndShapes) {
  const Grid small = preset_grid("small"), full = preset_grid("full");
  EXPECT_EQ(small.size, (std::array<int64_t, 3>{64, 104, 200}));
  EXPECT_EQ(full.spacing, (std::array<double, 3>{2.0, 2.0, 3.0}));
  const Geometry g = small.geometry();
  EXPECT_EQ(g.orientation_code(), "ILP");  // canonical: D inferior, W left, H posterior
  EXPECT_THROW(preset_grid("huge"), Error);
  PhantomConfig bad = config();
  bad.cohort = "nope";
  EXPECT_THROW(bad.validate(), Error);
}

TEST(Phantom, MetadataFollowsTable1) {
  const PhantomConfig cfg = config();
  int men = 0, fdg = 0, psma = 0, n = 2000;
  double age = 0;
  for (int i = 0; i < n; ++i) {
    const CaseMetadata m = sample_metadata(cfg, i);
    men += m.sex == "M";
    age += m.age;
    fdg += m.tracer == "18F-FDG";
    psma += m.tracer != "18F-FDG";
    if (m.diagnosis == "prostate cancer") EXPECT_EQ(m.sex, "M");
    EXPECT_EQ(m.stage, 0);
  }
  EXPECT_NEAR(men / double(n), 0.637, 0.04);
  EXPECT_NEAR(age / n, 62.0, 3.0);
  EXPECT_NEAR(fdg / double(n), 1014.0 / 1611.0, 0.04);
  const PhantomConfig h = config("hodgkin");
  double hage = 0;
  for (int i = 0; i < 500; ++i) {
    const CaseMetadata m = sample_metadata(h, i);
    EXPECT_EQ(m.tracer, "18F-FDG");
    EXPECT_GE(m.stage, 1);
    EXPECT_LE(m.stage, 4);
    hage += m.age;
  }
  EXPECT_NEAR(hage / 500, 35.5, 3.0);
}

TEST_F(SingleThreaded, NegativeControlHasEmptyMask) {
  const PhantomConfig cfg = config();
  const int64_t i = find_case(cfg, [](const CaseMetadata& m) { return m.diagnosis == "negative control"; });
  const PhantomCase c = generate_case(cfg, i);
  EXPECT_TRUE(c.lesions.empty());
  EXPECT_EQ(c.seg.sum().item<int64_t>(), 0);
}

TEST_F(SingleThreaded, PsmaLightsUpSalivaryGlandsFdgTheBrain) {
  const PhantomConfig cfg = config();
  const PhantomCase psma = generate_case(
      cfg, find_case(cfg, [](const CaseMetadata& m) { return m.tracer != "18F-FDG"; }));
  const PhantomCase fdg = generate_case(
      cfg, find_case(cfg, [](const CaseMetadata& m) { return m.tracer == "18F-FDG"; }));
  auto organ = [](const PhantomCase& c, Tissue t) { return mean_in(c.suv, c.labels == t); };
  EXPECT_GT(organ(psma, kParotid), 6.0);
  EXPECT_GT(organ(psma, kParotid), 5 * organ(psma, kBrain));
  EXPECT_GT(organ(psma, kKidney), 10.0);
  EXPECT_GT(organ(fdg, kBrain), 4.0);
  EXPECT_GT(organ(fdg, kBrain), 2 * organ(fdg, kParotid));
  EXPECT_LT(organ(psma, kBrain), 1.0);
}

TEST_F(SingleThreaded, HuAndSuvRangesPerTissue) {
  const PhantomConfig cfg = config();
  const PhantomCase c = generate_case(
      cfg, find_case(cfg, [](const CaseMetadata& m) { return m.tracer == "18F-FDG"; }));
  // Interior voxels only (away from other tissues), where partial volume does not blur HU.
  auto interior = [&](Tissue t) {
    const at::Tensor m = c.labels == t;
    return m & ~dilate(~m, 1);
  };
  struct Range {
    Tissue t;
    double hu_lo, hu_hi, suv_lo, suv_hi;
  };
  const Range ranges[] = {
      {kFat, -140, -60, 0.05, 0.8},      {kSoftTissue, 10, 80, 0.3, 1.6},
      {kLung, -920, -750, 0.1, 1.2},     {kLiver, 35, 85, 1.2, 3.6},
      {kBrain, 20, 50, 3.5, 13},         {kUrine, -10, 25, 4, 80},
      {kMarrow, 150, 450, 0.5, 3.0},
  };
  for (const Range& r : ranges) {
    const at::Tensor m = interior(r.t);
    ASSERT_GT(m.sum().item<int64_t>(), 0) << int(r.t);
    const double hu = mean_in(c.ct, m), suv = mean_in(c.suv, m);
    EXPECT_GT(hu, r.hu_lo) << "tissue " << int(r.t);
    EXPECT_LT(hu, r.hu_hi) << "tissue " << int(r.t);
    EXPECT_GT(suv, r.suv_lo) << "tissue " << int(r.t);
    EXPECT_LT(suv, r.suv_hi) << "tissue " << int(r.t);
  }
  EXPECT_GT(mean_in(c.ct, c.labels == kCorticalBone), 500);
  EXPECT_LT(mean_in(c.ct, c.labels == kAir), -950);
  EXPECT_GE(c.suv.min().item<double>(), 0.0);
  EXPECT_GE(c.ct.min().item<double>(), -1024.0);
}

TEST_F(SingleThreaded, EveryLesionIsHotterThanItsSurroundings) {
  int checked = 0;
  for (const char* cohort : {"autopet", "hodgkin"}) {
    const PhantomConfig cfg = config(cohort, 11);
    for (int64_t i = 0; i < 10; ++i) {
      const PhantomCase c = generate_case(cfg, i);
      const int64_t n = c.instances.max().item<int64_t>();
      for (int64_t k = 1; k <= n; ++k) {
        const at::Tensor lesion = c.instances == k;
        if (lesion.sum().item<int64_t>() == 0) continue;  // fully covered by a later lesion
        const at::Tensor shell = dilate(lesion, 2) & ~dilate(c.seg > 0, 0) & (c.labels != kAir);
        if (shell.sum().item<int64_t>() == 0) continue;
        EXPECT_GT(mean_in(c.suv, lesion), mean_in(c.suv, shell))
            << c.meta.case_id << " lesion " << k << " " << site_name(c.lesions[k - 1].site);
        ++checked;
      }
      // The mask is exactly the union of the lesions.
      EXPECT_TRUE(torch::equal(c.seg > 0, c.instances > 0));
    }
  }
  EXPECT_GT(checked, 20);
}

TEST_F(SingleThreaded, HodgkinStageFollowsFromLesionPositions) {
  const PhantomConfig cfg = config("hodgkin", 5);
  std::set<int> stages;
  for (int64_t i = 0; i < 16; ++i) {
    const PhantomCase c = generate_case(cfg, i);
    ASSERT_FALSE(c.lesions.empty());
    // Lesion centres measured from the mask (centroid of each lesion's voxels, in mm).
    const Grid& g = c.grid;
    const at::Tensor ys = g.ys(), xs = g.xs(), ss = g.ss();
    std::vector<Vec3> centres;
    for (int64_t k = 1; k <= static_cast<int64_t>(c.lesions.size()); ++k) {
      const at::Tensor idx = (c.instances == k).nonzero();  // (n, 3) over H, W, D
      if (idx.size(0) == 0) continue;
      centres.push_back({xs.index({idx.select(1, 1)}).mean().item<double>(),
                         ys.index({idx.select(1, 0)}).mean().item<double>(),
                         ss.index({idx.select(1, 2)}).mean().item<double>()});
    }
    EXPECT_EQ(ann_arbor_stage(centres, c.anatomy), c.meta.stage) << c.meta.case_id;
    stages.insert(c.meta.stage);
  }
  EXPECT_GE(stages.size(), 3u) << "the cohort should span the stages";
}

TEST(AnnArbor, StagingRules) {
  const PhantomConfig cfg = config("hodgkin");
  const PhantomCase c = [&] {
    const int saved = at::get_num_threads();
    at::set_num_threads(1);
    PhantomCase r = generate_case(cfg, 0);
    at::set_num_threads(saved);
    return r;
  }();
  const Anatomy& an = c.anatomy;
  const Vec3 neck_r = station_centre(Site::kCervicalR, an), supra_r = station_centre(Site::kSupraclavicularR, an),
             axilla_l = station_centre(Site::kAxillaryL, an), iliac = station_centre(Site::kIliacL, an);
  EXPECT_EQ(ann_arbor_stage({}, an), 0);
  EXPECT_EQ(ann_arbor_stage({neck_r}, an), 1);
  EXPECT_EQ(ann_arbor_stage({neck_r, supra_r}, an), 1) << "cervical and supraclavicular are one region";
  EXPECT_EQ(ann_arbor_stage({neck_r, axilla_l}, an), 2);
  EXPECT_EQ(ann_arbor_stage({neck_r, iliac}, an), 3);
  EXPECT_EQ(ann_arbor_stage({neck_r, an.spleen_centre}, an), 3) << "the spleen is nodal tissue";
  EXPECT_EQ(ann_arbor_stage({neck_r, an.liver_centre}, an), 4);
  EXPECT_EQ(site_at(an.liver_centre, an), Site::kLiver);
  EXPECT_EQ(stage_group(2), "early");
  EXPECT_EQ(stage_group(3), "advanced");
}

TEST(Imaging, GaussianBlurPreservesSumAndMatchesWidth) {
  Grid g;
  g.size = {1, 1, 101};
  g.spacing = {1, 1, 2.0};
  at::Tensor v = torch::zeros({1, 1, 101});
  v[0][0][50] = 1.0f;
  const at::Tensor b = gaussian_blur(v, g, 6.0);  // sigma 6 mm = 3 voxels
  EXPECT_NEAR(b.sum().item<double>(), 1.0, 1e-5);
  const at::Tensor x = (torch::arange(101, torch::kFloat) - 50) * 2.0;
  const double var = (b.view(-1) * x.square()).sum().item<double>();
  EXPECT_NEAR(std::sqrt(var), 6.0, 0.05);
}
