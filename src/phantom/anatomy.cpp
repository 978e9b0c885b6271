#include "phantom/anatomy.h"

#include <algorithm>
#include <cmath>

#include "phantom/tissue.h"

namespace fratmae::phantom {

namespace {

// Trunk outline keyframes for a 175 cm man of average girth: s (mm below the vertex + 20 mm
// margin), half width a, half depth b (mm), centre y offset.
struct Key {
  double s, a, b, yc;
};
const Key kOutline[] = {
    {20, 8, 8, -5},      {35, 50, 62, -5},    {70, 70, 88, -5},    {120, 76, 97, -5},
    {180, 70, 90, -2},   {220, 58, 74, 0},    {250, 52, 56, 5},    {290, 56, 58, 5},
    {320, 130, 92, 5},   {350, 180, 104, 5},  {420, 168, 110, 5},  {520, 160, 112, 5},
    {620, 154, 112, 0},  {720, 150, 114, 0},  {820, 160, 112, 0},  {890, 176, 108, 0},
    {950, 172, 100, 0},
};
constexpr double kCrotch = 955;  // below this: two thighs

Key outline_at(double s_template) {
  const size_t n = sizeof(kOutline) / sizeof(Key);
  if (s_template <= kOutline[0].s) return {s_template, 0, 0, 0};
  for (size_t i = 1; i < n; ++i)
    if (s_template <= kOutline[i].s) {
      const Key &a = kOutline[i - 1], &b = kOutline[i];
      const double t = (s_template - a.s) / (b.s - a.s);
      return {s_template, a.a + t * (b.a - a.a), a.b + t * (b.b - a.b), a.yc + t * (b.yc - a.yc)};
    }
  return kOutline[n - 1];
}

}  // namespace

std::pair<double, double> Anatomy::trunk_halfaxes(double s) const {
  const Key k = outline_at(s / body.height_scale);
  return {k.a * body.girth_scale, k.b * body.girth_scale};
}

std::pair<at::Tensor, Anatomy> build_anatomy(const Painter& p, const BodyParams& body,
                                             at::Generator& gen) {
  const Grid& g = p.grid();
  const double hs = body.height_scale, gs = body.girth_scale;
  const double os = std::sqrt(gs);  // organs grow less than the body outline
  auto S = [&](double s) { return s * hs; };
  Anatomy an;
  an.body = body;
  at::Tensor labels = at::zeros({g.size[0], g.size[1], g.size[2]}, g.options(at::kByte));

  // ---- Body outline: per-slice ellipse (a, b, yc) on the trunk, two thighs below the crotch.
  const int64_t nd = g.size[2];
  std::vector<float> a(nd), b(nd), yc(nd), fat(nd);
  for (int64_t d = 0; d < nd; ++d) {
    const double s = static_cast<double>(d) * g.spacing[2] / hs;  // template s
    const Key k = outline_at(s);
    a[d] = static_cast<float>(k.a * gs);
    b[d] = static_cast<float>(k.b * gs);
    yc[d] = static_cast<float>(k.yc * gs);
    // Subcutaneous fat: thin over the head, full over the trunk.
    const double f = s < 250 ? 4.0 : s < 320 ? 4.0 + (s - 250) / 70 * (body.fat_mm - 4) : body.fat_mm;
    fat[d] = static_cast<float>(std::min<double>(f, 0.45 * std::min(k.a, k.b) * gs));
  }
  auto vec = [&](const std::vector<float>& v) {
    return at::tensor(v, g.options()).view({1, 1, -1});
  };
  const at::Tensor A = vec(a), B = vec(b), YC = vec(yc), F = vec(fat);
  const at::Tensor y = g.ys().view({-1, 1, 1}), x = g.xs().view({1, -1, 1}),
                   s = g.ss().view({1, 1, -1});
  const at::Tensor trunk_s = s < S(kCrotch);
  at::Tensor r2 = (x / A.clamp_min(1e-3)).square() + ((y - YC) / B.clamp_min(1e-3)).square();
  at::Tensor inner2 = (x / (A - F).clamp_min(1e-3)).square() +
                      ((y - YC) / (B - F).clamp_min(1e-3)).square();
  labels.masked_fill_(trunk_s & (r2 <= 1.0), kFat);
  labels.masked_fill_(trunk_s & (inner2 <= 1.0), kSoftTissue);
  // Thighs: radius shrinking from 88 to 64 mm, centred at x = +-(95 gs).
  const at::Tensor ts = ((s / hs - kCrotch) / 250.0).clamp(0.0, 1.0);
  const at::Tensor thigh_r = (88.0 - 24.0 * ts) * gs;
  for (int side : {-1, 1}) {
    const at::Tensor d2 = ((x - side * 92.0 * gs).square() + (y + 5.0).square());
    const at::Tensor legs = (s >= S(kCrotch - 25)) & (d2 <= thigh_r.square());
    labels.masked_fill_(legs, kFat);
    labels.masked_fill_(legs & (d2 <= (thigh_r - body.fat_mm * 0.8).square()), kSoftTissue);
  }
  if (body.arms) {
    for (int side : {-1, 1})
      for (double s0 = 330; s0 < 900; s0 += 10) {
        const auto [ta, tb] = an.trunk_halfaxes(S(s0));
        p.fill_capsule(labels, {side * (ta + 50 * gs), 0, S(s0)}, {side * (ta + 50 * gs), 0, S(s0 + 10)},
                       40 * gs, kSoftTissue);
      }
  }

  // ---- Head: skull, brain, CSF spaces, glands.
  p.fill_ellipsoid(labels, {0, -5 * gs, S(118)}, {68 * gs, 86 * gs, 80 * hs}, kCorticalBone);
  p.fill_ellipsoid(labels, {0, -5 * gs, S(118)}, {61 * gs, 79 * gs, 73 * hs}, kCsf);
  p.fill_ellipsoid(labels, {0, -5 * gs, S(118)}, {58 * gs, 76 * gs, 70 * hs}, kBrain);
  for (int side : {-1, 1}) {
    p.fill_ellipsoid(labels, {side * 34.0 * gs, -66 * gs, S(98)}, {7, 5, 5}, kLacrimal);
    p.fill_ellipsoid(labels, {side * 46.0 * gs, 8 * gs, S(200)}, {11 * os, 17 * os, 21 * os}, kParotid);
    p.fill_ellipsoid(labels, {side * 30.0 * gs, -28 * gs, S(232)}, {9 * os, 9 * os, 8 * os}, kSubmandibular);
  }

  // ---- Spine: vertebral bodies (cortex around marrow), spinal canal, spinous processes.
  auto spine_y = [&](double st) {  // template s -> y of the vertebral body centre
    if (st < 300) return 18.0;
    if (st < 380) return 18.0 + (st - 300) / 80 * 52;
    if (st < 620) return 70.0;
    if (st < 700) return 70.0 - (st - 620) / 80 * 18;
    return 52.0;
  };
  for (double st = 245; st < 870;) {
    const double h = st < 320 ? 16 : st < 620 ? 22 : 28;  // cervical, thoracic, lumbar
    const double r = st < 320 ? 11 : st < 620 ? 15 : 19;
    const Vec3 c{0, spine_y(st) * gs, S(st + h / 2)};
    p.fill_ellipsoid(labels, c, {r * os, r * 0.85 * os, h / 2 * hs}, kCorticalBone);
    p.fill_ellipsoid(labels, c, {(r - 3) * os, (r * 0.85 - 3) * os, (h / 2 - 1.5) * hs}, kMarrow);
    p.fill_ellipsoid(labels, {0, c.y + (r + 8) * os, c.s}, {6 * os, 6 * os, h / 2 * hs}, kCsf);
    p.fill_ellipsoid(labels, {0, c.y + (r + 24) * os, c.s}, {5 * os, 12 * os, h / 2.6 * hs}, kCorticalBone);
    an.vertebra_centres.push_back(c);
    st += h + 6;  // intervertebral disc: soft tissue
  }
  // Sacrum.
  p.fill_ellipsoid(labels, {0, 62 * gs, S(895)}, {38 * os, 16 * os, 45 * hs}, kCorticalBone);
  p.fill_ellipsoid(labels, {0, 62 * gs, S(895)}, {33 * os, 11 * os, 40 * hs}, kMarrow);

  // ---- Thorax: lungs (inside the rib cage), vessels, heart, aorta, ribs, sternum.
  an.diaphragm_s = S(585);
  an.lung_radius = {62 * os, 82 * os, 128 * hs};
  for (int i = 0; i < 2; ++i) {
    const int side = i == 0 ? -1 : 1;
    an.lung_centre[i] = {side * 78.0 * gs, 8 * gs, S(460)};
    p.fill_ellipsoid(labels, an.lung_centre[i], an.lung_radius, kLung, kSoftTissue);
  }
  // Pulmonary vessels: tapering segments fanning out from each hilum.
  for (int i = 0; i < 2; ++i) {
    const int side = i == 0 ? -1 : 1;
    const Vec3 hilum{side * 48.0 * gs, 5 * gs, S(470)};
    for (int v = 0; v < 14; ++v) {
      const double th = uniform(gen, 0, 2 * M_PI), ph = uniform(gen, -1.2, 1.2);
      const double len = uniform(gen, 50, 110);
      Vec3 end{hilum.x + side * std::abs(std::cos(ph)) * len * 0.8, hilum.y + std::sin(th) * len * 0.6,
               hilum.s + std::sin(ph) * len};
      const Vec3 mid{(hilum.x + end.x) / 2, (hilum.y + end.y) / 2, (hilum.s + end.s) / 2};
      p.fill_capsule(labels, hilum, mid, 4.0, kLungVessel, kLung);
      p.fill_capsule(labels, mid, end, 2.2, kLungVessel, kLung);
    }
  }
  // Heart: myocardium around the blood pool, left of the midline, anterior.
  const Vec3 heart{22 * gs, -22 * gs, S(515)};
  p.fill_ellipsoid(labels, heart, {58 * os, 50 * os, 60 * os}, kMyocardium);
  p.fill_ellipsoid(labels, heart, {46 * os, 38 * os, 48 * os}, kBlood);
  // Aorta: ascending, arch, descending beside the spine, bifurcation into iliac arteries.
  const Vec3 asc0{12 * gs, -18 * gs, S(470)}, arch0{8 * gs, -8 * gs, S(405)},
      arch1{10 * gs, 30 * gs, S(400)}, desc0{18 * gs, 42 * gs, S(430)}, bif{8 * gs, 30 * gs, S(830)};
  p.fill_capsule(labels, asc0, arch0, 14 * os, kBlood);
  p.fill_capsule(labels, arch0, arch1, 13 * os, kBlood);
  p.fill_capsule(labels, arch1, desc0, 12 * os, kBlood);
  p.fill_capsule(labels, desc0, bif, 11 * os, kBlood);
  for (int side : {-1, 1})
    p.fill_capsule(labels, bif, {side * 60.0 * gs, 25 * gs, S(905)}, 7 * os, kBlood);
  // Ribs: arcs of the trunk ellipse, sloping down to the front, with an anterior gap.
  for (double st = 335; st <= 620; st += 24) {
    const auto [ta, tb] = an.trunk_halfaxes(S(st));
    const double ra = ta - body.fat_mm - 10, rb = tb - body.fat_mm - 10;
    if (ra <= 20 || rb <= 20) continue;
    const Box bx = p.box({0, 0, S(st) + 45}, {ra + 5, rb + 5, 60});
    if (bx.empty()) continue;
    const BoxCoords k = p.coords(bx);
    const at::Tensor q = (k.x / ra).square() + (k.y / rb).square();
    // Each rib descends from the spine laterally and again towards its anterior end.
    const at::Tensor slope_s = S(st) + 0.28 * k.x.abs() + 0.10 * (rb - k.y).clamp_min(0);
    const at::Tensor rib = (q <= 1.0) & (q >= std::pow(1.0 - 9.0 / std::min(ra, rb), 2)) &
                           ((k.s - slope_s).abs() <= 4.5) & ~((k.y < -0.55 * rb) & (k.x.abs() < 30));
    at::Tensor v = Painter::view(labels, bx);
    v.masked_fill_(rib & (v != kLung), kCorticalBone);
  }
  {
    const auto [ta, tb] = an.trunk_halfaxes(S(460));
    p.fill_ellipsoid(labels, {0, -(tb - body.fat_mm - 8), S(460)}, {16, 6, 75 * hs}, kCorticalBone);
  }

  // ---- Abdomen: liver, spleen, stomach, kidneys, bowel with gas, bladder, prostate.
  an.liver_centre = {-62 * gs, -5 * gs, S(640)};
  an.liver_radius = {92 * os, 82 * os, 74 * os};
  p.fill_ellipsoid(labels, an.liver_centre, an.liver_radius, kLiver, kSoftTissue);
  an.spleen_centre = {92 * gs, 45 * gs, S(625)};
  an.spleen_radius = {32 * os, 40 * os, 52 * os};
  p.fill_ellipsoid(labels, an.spleen_centre, an.spleen_radius, kSpleen, kSoftTissue);
  p.fill_ellipsoid(labels, {50 * gs, -35 * gs, S(630)}, {42 * os, 32 * os, 48 * os}, kStomach, kSoftTissue);
  p.fill_ellipsoid(labels, {55 * gs, -48 * gs, S(615)}, {18 * os, 12 * os, 14 * os}, kBowelGas, kStomach);
  an.kidney_radius = {27 * os, 30 * os, 55 * os};
  for (int i = 0; i < 2; ++i) {
    const int side = i == 0 ? -1 : 1;
    an.kidney_centre[i] = {side * 72.0 * gs, 50 * gs, S(i == 0 ? 710 : 695)};
    p.fill_ellipsoid(labels, an.kidney_centre[i], an.kidney_radius, kKidney);
    p.fill_ellipsoid(labels, {an.kidney_centre[i].x - side * 12 * os, an.kidney_centre[i].y - 4, an.kidney_centre[i].s},
                     {9 * os, 9 * os, 20 * os}, kUrine);
  }
  const int loops = static_cast<int>(uniform(gen, 10, 18));
  for (int l = 0; l < loops; ++l) {
    const Vec3 c{uniform(gen, -100, 100) * gs, uniform(gen, -75, 15) * gs, S(uniform(gen, 700, 860))};
    const double r = uniform(gen, 14, 26) * os;
    p.fill_ellipsoid(labels, c, {r, r * uniform(gen, 0.7, 1.0), r * uniform(gen, 0.8, 1.4)}, kBowel, kSoftTissue);
    if (uniform(gen, 0, 1) < 0.4)
      p.fill_ellipsoid(labels, {c.x, c.y - r * 0.4, c.s}, {r * 0.45, r * 0.3, r * 0.45}, kBowelGas, kBowel);
  }
  an.bladder_centre = {0, -38 * gs, S(905)};
  an.bladder_radius = {40 * os, 33 * os, 33 * os};
  p.fill_ellipsoid(labels, an.bladder_centre, an.bladder_radius, kUrine);
  if (body.male) {
    an.prostate_centre = {0, -8 * gs, S(948)};
    an.prostate_radius = {19 * os, 16 * os, 17 * os};
    p.fill_ellipsoid(labels, an.prostate_centre, an.prostate_radius, kProstate);
  }

  // ---- Pelvic bones and femurs.
  for (int i = 0; i < 2; ++i) {
    const int side = i == 0 ? -1 : 1;
    an.iliac_centre[i] = {side * 88.0 * gs, 28 * gs, S(855)};
    p.fill_ellipsoid(labels, an.iliac_centre[i], {50 * os, 14 * os, 55 * hs}, kCorticalBone);
    p.fill_ellipsoid(labels, an.iliac_centre[i], {45 * os, 9 * os, 50 * hs}, kMarrow);
    p.fill_ellipsoid(labels, {side * 42.0 * gs, -25 * gs, S(955)}, {28 * os, 12 * os, 14 * hs}, kCorticalBone);
    an.femur_top[i] = {side * 90.0 * gs, 0, S(925)};
    an.femur_bottom[i] = {side * 86.0 * gs, 4 * gs, S(1400)};
    p.fill_ellipsoid(labels, an.femur_top[i], {25 * os, 25 * os, 25 * os}, kCorticalBone);
    p.fill_ellipsoid(labels, an.femur_top[i], {20 * os, 20 * os, 20 * os}, kMarrow);
    p.fill_capsule(labels, {an.femur_top[i].x, 0, S(945)}, an.femur_bottom[i], 15 * os, kCorticalBone);
    p.fill_capsule(labels, {an.femur_top[i].x, 0, S(945)}, an.femur_bottom[i], 10 * os, kMarrow);
  }
  return {labels, an};
}

}  // namespace fratmae::phantom
