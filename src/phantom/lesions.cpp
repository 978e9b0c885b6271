#include "phantom/lesions.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"

namespace fratmae::phantom {

namespace {
const char* kSiteNames[] = {
    "cervical R", "cervical L", "supraclavicular R", "supraclavicular L", "axillary R",
    "axillary L", "mediastinal", "hilar R", "hilar L", "para-aortic", "mesenteric", "iliac R",
    "iliac L", "inguinal R", "inguinal L", "spleen", "lung", "liver", "bone", "prostate"};

double sq(double v) { return v * v; }

bool inside(const Vec3& p, const Vec3& c, const Vec3& r, double shrink = 1.0) {
  return sq((p.x - c.x) / (r.x * shrink)) + sq((p.y - c.y) / (r.y * shrink)) +
             sq((p.s - c.s) / (r.s * shrink)) <= 1.0;
}

Site pick(at::Generator& gen, std::initializer_list<Site> sites) {
  const std::vector<Site> v(sites);
  return v[std::min<size_t>(v.size() - 1, static_cast<size_t>(uniform(gen, 0, v.size())))];
}

// A random point well inside an ellipsoid organ.
Vec3 inside_point(const Vec3& c, const Vec3& r, at::Generator& gen, double depth = 0.7) {
  for (;;) {
    const Vec3 u{uniform(gen, -1, 1), uniform(gen, -1, 1), uniform(gen, -1, 1)};
    if (sq(u.x) + sq(u.y) + sq(u.s) <= 1.0)
      return {c.x + u.x * r.x * depth, c.y + u.y * r.y * depth, c.s + u.s * r.s * depth};
  }
}

std::array<double, 9> random_rotation(at::Generator& gen) {
  // Rotation from a random unit quaternion.
  double q[4];
  double n = 0;
  for (double& v : q) {
    v = normal(gen, 0, 1);
    n += v * v;
  }
  n = std::sqrt(n);
  const double w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
  return {1 - 2 * (y * y + z * z), 2 * (x * y - z * w),     2 * (x * z + y * w),
          2 * (x * y + z * w),     1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
          2 * (x * z - y * w),     2 * (y * z + x * w),     1 - 2 * (x * x + y * y)};
}

}  // namespace

std::string site_name(Site s) { return kSiteNames[static_cast<int>(s)]; }

bool is_nodal(Site s) { return static_cast<int>(s) <= static_cast<int>(Site::kInguinalL); }

bool is_extranodal(Site s) {
  return s == Site::kLung || s == Site::kLiver || s == Site::kBone || s == Site::kProstate;
}

std::string ann_arbor_region(Site s) {
  switch (s) {
    case Site::kCervicalR:
    case Site::kSupraclavicularR: return "cervical/supraclavicular R";
    case Site::kCervicalL:
    case Site::kSupraclavicularL: return "cervical/supraclavicular L";
    default: return site_name(s);
  }
}

Vec3 station_centre(Site s, const Anatomy& an) {
  const double gs = an.body.girth_scale;
  auto S = [&](double t) { return an.at_s(t); };
  auto axilla_x = [&](int side) { return side * (an.trunk_halfaxes(S(375)).first - 40 * gs); };
  switch (s) {
    case Site::kCervicalR: return {-36 * gs, 0, S(265)};
    case Site::kCervicalL: return {36 * gs, 0, S(265)};
    case Site::kSupraclavicularR: return {-62 * gs, -4 * gs, S(318)};
    case Site::kSupraclavicularL: return {62 * gs, -4 * gs, S(318)};
    case Site::kAxillaryR: return {axilla_x(-1), 12 * gs, S(375)};
    case Site::kAxillaryL: return {axilla_x(1), 12 * gs, S(375)};
    case Site::kMediastinal: return {4 * gs, -30 * gs, S(440)};
    case Site::kHilarR: return {-40 * gs, 12 * gs, S(478)};
    case Site::kHilarL: return {40 * gs, 12 * gs, S(478)};
    case Site::kParaAortic: return {-14 * gs, 38 * gs, S(760)};
    case Site::kMesenteric: return {0, -30 * gs, S(745)};
    case Site::kIliacR: return {-58 * gs, 18 * gs, S(880)};
    case Site::kIliacL: return {58 * gs, 18 * gs, S(880)};
    case Site::kInguinalR: return {-82 * gs, -42 * gs, S(975)};
    case Site::kInguinalL: return {82 * gs, -42 * gs, S(975)};
    default: throw Error("station_centre: " + site_name(s) + " is not a node station");
  }
}

Site site_at(const Vec3& p, const Anatomy& an) {
  // Node stations are small and precisely placed: a point within 22 mm of one belongs to it.
  Site best = Site::kCervicalR;
  double best_d = std::numeric_limits<double>::infinity();
  for (int s = 0; s <= static_cast<int>(Site::kInguinalL); ++s) {
    const Vec3 c = station_centre(static_cast<Site>(s), an);
    const double d = sq(p.x - c.x) + sq(p.y - c.y) + sq(p.s - c.s);
    if (d < best_d) {
      best_d = d;
      best = static_cast<Site>(s);
    }
  }
  if (best_d < sq(22)) return best;
  if (inside(p, an.spleen_centre, an.spleen_radius)) return Site::kSpleen;
  if (inside(p, an.liver_centre, an.liver_radius)) return Site::kLiver;
  for (int i = 0; i < 2; ++i)
    if (inside(p, an.lung_centre[i], an.lung_radius, 0.9)) return Site::kLung;
  if (an.body.male && inside(p, an.prostate_centre, an.prostate_radius)) return Site::kProstate;
  for (const Vec3& v : an.vertebra_centres)
    if (sq(p.x - v.x) + sq(p.y - v.y) < sq(16) && std::abs(p.s - v.s) < 16) return Site::kBone;
  for (int i = 0; i < 2; ++i) {
    if (inside(p, an.iliac_centre[i], {45, 12, 50})) return Site::kBone;
    const Vec3 &a = an.femur_top[i], &b = an.femur_bottom[i];
    if (p.s > a.s && p.s < b.s && sq(p.x - a.x) + sq(p.y - a.y) < sq(16)) return Site::kBone;
  }
  return best;
}

int ann_arbor_stage(const std::vector<Vec3>& centres, const Anatomy& an) {
  if (centres.empty()) return 0;
  std::set<std::string> regions;
  bool above = false, below = false, extranodal = false;
  for (const Vec3& p : centres) {
    const Site s = site_at(p, an);
    if (is_extranodal(s)) {
      extranodal = true;
      continue;
    }
    regions.insert(ann_arbor_region(s));
    (p.s < an.diaphragm_s ? above : below) = true;
  }
  if (extranodal) return 4;
  if (above && below) return 3;
  return regions.size() == 1 ? 1 : 2;
}

namespace {

// A lesion centred near `site` (node stations jittered by ~8 mm, organs anywhere inside).
Lesion make_lesion_once(Site site, const Anatomy& an, at::Generator& gen, double min_d, double max_d) {
  Lesion l;
  l.site = site;
  const double d = log_uniform(gen, min_d, max_d);  // equivalent diameter, mm
  const double e1 = uniform(gen, 0.75, 1.25), e2 = uniform(gen, 0.75, 1.25);
  const double k = std::cbrt(e1 * e2);
  l.radii = {d / 2 * e1 / k, d / 2 * e2 / k, d / 2 / k};
  l.rotation = random_rotation(gen);
  switch (site) {
    case Site::kSpleen: l.centre = inside_point(an.spleen_centre, an.spleen_radius, gen, 0.6); break;
    case Site::kLiver: l.centre = inside_point(an.liver_centre, an.liver_radius, gen, 0.65); break;
    case Site::kLung: {
      const int i = uniform(gen, 0, 1) < 0.5 ? 0 : 1;
      l.centre = inside_point(an.lung_centre[i], an.lung_radius, gen, 0.6);
      break;
    }
    case Site::kProstate:
      l.centre = inside_point(an.prostate_centre, an.prostate_radius, gen, 0.4);
      l.radii = {std::min(l.radii.x, 12.0), std::min(l.radii.y, 12.0), std::min(l.radii.s, 12.0)};
      break;
    case Site::kBone: {
      const double u = uniform(gen, 0, 1);
      if (u < 0.6) {
        const auto& v = an.vertebra_centres;
        l.centre = v[std::min<size_t>(v.size() - 1, static_cast<size_t>(uniform(gen, 0, v.size())))];
      } else if (u < 0.85) {
        const int i = uniform(gen, 0, 1) < 0.5 ? 0 : 1;
        l.centre = inside_point(an.iliac_centre[i], {35, 6, 40}, gen, 0.8);
      } else {
        const int i = uniform(gen, 0, 1) < 0.5 ? 0 : 1;
        l.centre = {an.femur_top[i].x, an.femur_top[i].y, an.femur_top[i].s + uniform(gen, 40, 140)};
      }
      l.radii = {std::min(l.radii.x, 10.0), std::min(l.radii.y, 10.0), std::min(l.radii.s, 10.0)};
      break;
    }
    default: {
      const Vec3 c = station_centre(site, an);
      l.centre = {c.x + normal(gen, 0, 6), c.y + normal(gen, 0, 6), c.s + normal(gen, 0, 8)};
    }
  }
  return l;
}

// Drawn until its centre lies where site_at() places it, so that staging from positions
// agrees with the sites the lesions were drawn for.
Lesion make_lesion(Site site, const Anatomy& an, at::Generator& gen, double min_d, double max_d) {
  for (int tries = 0;; ++tries) {
    Lesion l = make_lesion_once(site, an, gen, min_d, max_d);
    if (site_at(l.centre, an) == site) return l;
    if (tries > 200) throw Error("phantom: cannot place a lesion in " + site_name(site));
  }
}

std::vector<Site> nodal_sites(bool above) {
  std::vector<Site> v;
  for (int s = 0; s <= static_cast<int>(Site::kInguinalL); ++s) {
    const Site site = static_cast<Site>(s);
    const bool is_above = static_cast<int>(site) <= static_cast<int>(Site::kHilarL);
    if (is_above == above) v.push_back(site);
  }
  return v;
}

// Distinct Ann Arbor regions chosen from `sites`.
std::vector<Site> choose_regions(std::vector<Site> sites, int n, at::Generator& gen) {
  std::vector<Site> out;
  std::set<std::string> used;
  for (int tries = 0; static_cast<int>(out.size()) < n && tries < 200; ++tries) {
    const Site s = sites[std::min<size_t>(sites.size() - 1, static_cast<size_t>(uniform(gen, 0, sites.size())))];
    if (used.insert(ann_arbor_region(s)).second) out.push_back(s);
  }
  return out;
}

void add(std::vector<Lesion>& out, Site site, const Anatomy& an, at::Generator& gen, int count,
         double min_d = 4, double max_d = 40) {
  for (int i = 0; i < count; ++i) out.push_back(make_lesion(site, an, gen, min_d, max_d));
}

}  // namespace

std::vector<Lesion> sample_lesions(const std::string& diagnosis, int stage, const Anatomy& an,
                                   at::Generator& gen) {
  std::vector<Lesion> out;
  auto n = [&](int lo, int hi) { return static_cast<int>(uniform(gen, lo, hi + 1)); };
  if (diagnosis == "negative control") return out;
  if (diagnosis == "hodgkin lymphoma") {
    if (stage < 1 || stage > 4) throw Error("Hodgkin case needs an Ann Arbor stage 1..4");
    const bool above = stage >= 3 || uniform(gen, 0, 1) < 0.85;  // early HL is mostly supradiaphragmatic
    if (stage == 1) {
      add(out, choose_regions(nodal_sites(above), 1, gen)[0], an, gen, n(1, 3));
    } else if (stage == 2) {
      for (Site s : choose_regions(nodal_sites(above), n(2, 4), gen)) add(out, s, an, gen, n(1, 3));
    } else {
      for (Site s : choose_regions(nodal_sites(true), n(1, 3), gen)) add(out, s, an, gen, n(1, 3));
      std::vector<Site> below = nodal_sites(false);
      below.push_back(Site::kSpleen);
      for (Site s : choose_regions(below, n(1, 3), gen)) add(out, s, an, gen, n(1, 2), 6, 35);
      if (stage == 4) {
        const Site organ = pick(gen, {Site::kLung, Site::kLiver, Site::kBone});
        add(out, organ, an, gen, n(1, 4), 6, 25);
      }
    }
    return out;
  }
  if (diagnosis == "lymphoma") {
    for (Site s : choose_regions(nodal_sites(true), n(1, 4), gen)) add(out, s, an, gen, n(1, 3));
    for (Site s : choose_regions(nodal_sites(false), n(0, 3), gen)) add(out, s, an, gen, n(1, 2));
    if (uniform(gen, 0, 1) < 0.3) add(out, Site::kSpleen, an, gen, n(1, 3), 6, 25);
  } else if (diagnosis == "melanoma") {
    for (Site s : choose_regions({Site::kAxillaryR, Site::kAxillaryL, Site::kInguinalR,
                                  Site::kInguinalL, Site::kCervicalR, Site::kCervicalL},
                                 n(1, 2), gen))
      add(out, s, an, gen, n(1, 3));
    if (uniform(gen, 0, 1) < 0.4) add(out, Site::kLung, an, gen, n(1, 4), 4, 20);
    if (uniform(gen, 0, 1) < 0.3) add(out, Site::kLiver, an, gen, n(1, 3), 6, 30);
    if (uniform(gen, 0, 1) < 0.2) add(out, Site::kBone, an, gen, n(1, 2), 6, 20);
  } else if (diagnosis == "lung cancer") {
    add(out, Site::kLung, an, gen, 1, 15, 40);  // primary
    for (Site s : choose_regions({Site::kHilarR, Site::kHilarL, Site::kMediastinal,
                                  Site::kSupraclavicularR, Site::kSupraclavicularL},
                                 n(0, 3), gen))
      add(out, s, an, gen, n(1, 2), 6, 25);
    if (uniform(gen, 0, 1) < 0.3) add(out, Site::kBone, an, gen, n(1, 3), 6, 20);
    if (uniform(gen, 0, 1) < 0.2) add(out, Site::kLiver, an, gen, n(1, 2), 6, 25);
  } else if (diagnosis == "prostate cancer") {
    if (an.body.male && uniform(gen, 0, 1) < 0.7) add(out, Site::kProstate, an, gen, 1, 6, 20);
    for (Site s : choose_regions({Site::kIliacR, Site::kIliacL, Site::kParaAortic, Site::kInguinalR,
                                  Site::kInguinalL},
                                 n(0, 3), gen))
      add(out, s, an, gen, n(1, 3), 4, 20);
    if (uniform(gen, 0, 1) < 0.4) add(out, Site::kBone, an, gen, n(1, 5), 5, 20);
    if (out.empty()) add(out, Site::kIliacL, an, gen, 1, 4, 15);
  } else {
    throw Error("unknown diagnosis '" + diagnosis +
                "' (melanoma, lymphoma, lung cancer, prostate cancer, negative control, hodgkin lymphoma)");
  }
  return out;
}

}  // namespace fratmae::phantom
