#include "io/suv.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/error.h"
#include "core/text_util.h"
#include "io/dicom_time.h"

namespace fratmae {

namespace {
std::string upper_trimmed(const std::string& s) { return upper(trim(s)); }

[[noreturn]] void missing(const char* tag) {
  throw Error(std::string("missing DICOM tag ") + tag + ", needed to compute SUV");
}

double require(const std::optional<double>& v, const char* tag) {
  if (!v) missing(tag);
  return *v;
}

// Injection -> scan interval in seconds, and the two times.
struct DecayTimes {
  double injection, scan;
};

DecayTimes decay_times(const PetHeader& h) {
  if (trim(h.series_date).empty()) missing("SeriesDate (0008,0021)");
  if (trim(h.series_time).empty()) missing("SeriesTime (0008,0031)");
  const double series = dicom::parse_da(h.series_date, "SeriesDate (0008,0021)") +
                        dicom::parse_tm(h.series_time, "SeriesTime (0008,0031)");
  double earliest_acq = std::numeric_limits<double>::infinity();
  for (const auto& [date, time] : h.acquisition) {
    if (trim(date).empty() || trim(time).empty()) continue;
    earliest_acq = std::min(earliest_acq, dicom::parse_da(date, "AcquisitionDate (0008,0022)") +
                                              dicom::parse_tm(time, "AcquisitionTime (0008,0032)"));
  }
  double scan = series;
  if (std::isfinite(earliest_acq) && earliest_acq < series) {
    // The series time was reset after the acquisition started (e.g. a re-reconstruction):
    // the acquisition start is the scan time.
    scan = !trim(h.ge_post_injection_datetime).empty()
               ? dicom::parse_dt(h.ge_post_injection_datetime,
                                 "GE PostInjectionDateTime (0009,100d)")
               : earliest_acq;
  }
  double injection;
  if (!trim(h.radiopharm_start_datetime).empty()) {
    injection = dicom::parse_dt(h.radiopharm_start_datetime,
                                "RadiopharmaceuticalStartDateTime (0018,1078)");
  } else if (!trim(h.radiopharm_start_time).empty()) {
    // Only a time of day: assume the series date.
    injection = dicom::parse_da(h.series_date, "SeriesDate (0008,0021)") +
                dicom::parse_tm(h.radiopharm_start_time, "RadiopharmaceuticalStartTime (0018,1072)");
  } else {
    missing("RadiopharmaceuticalStartDateTime (0018,1078) or RadiopharmaceuticalStartTime (0018,1072)");
  }
  if (scan < injection)
    throw Error("DICOM times are inconsistent: the scan starts before the injection "
                "(RadiopharmaceuticalStartTime is after SeriesTime/AcquisitionTime)");
  return {injection, scan};
}

// Lean body mass in kg (Janmahasatian et al., Clin Pharmacokinet 2005).
std::optional<double> lean_body_mass_kg(const PetHeader& h) {
  if (!h.patient_size_m || !h.patient_weight_kg || *h.patient_size_m <= 0) return std::nullopt;
  const double w = *h.patient_weight_kg, hm = *h.patient_size_m;
  const double bmi = w / (hm * hm);
  const std::string sex = upper_trimmed(h.patient_sex);
  if (sex == "M") return 9270.0 * w / (6680.0 + 216.0 * bmi);
  if (sex == "F") return 9270.0 * w / (8780.0 + 244.0 * bmi);
  return std::nullopt;
}
}  // namespace

std::optional<double> parse_ds(const std::string& value, const std::string& tag) {
  const std::string s = trim(value);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !std::isfinite(v))
    throw Error("DICOM " + tag + " has an invalid number '" + s + "'");
  return v;
}

SuvResult compute_suv(const PetHeader& h) {
  SuvResult r;
  const std::string units = upper_trimmed(h.units);
  if (units.empty()) missing("Units (0054,1001)");

  if (units == "GML") {
    r.suvbw_factor = 1.0;
    r.method = "Units GML: values are already SUVbw";
    // SUL = SUVbw x LBM / weight, when weight, height and sex are there.
    if (h.patient_weight_kg && *h.patient_weight_kg > 0)
      if (const std::optional<double> lbm = lean_body_mass_kg(h)) r.sul_factor = *lbm / *h.patient_weight_kg;
    return r;
  }
  if (units != "BQML" && units != "CNTS")
    throw Error("PET Units (0054,1001) is '" + trim(h.units) +
                "'; fratmae converts BQML, CNTS (Philips) and GML to SUV");

  bool attn = false, decy = false;
  for (const std::string& c : h.corrected_image) {
    attn |= upper_trimmed(c) == "ATTN";
    decy |= upper_trimmed(c) == "DECY";
  }
  if (h.corrected_image.empty()) missing("CorrectedImage (0028,0051)");
  if (!attn || !decy)
    throw Error("PET is not attenuation- and decay-corrected (CorrectedImage (0028,0051) lacks "
                "ATTN or DECY): SUV is not defined for it");

  const double weight_kg = require(h.patient_weight_kg, "PatientWeight (0010,1030)");
  if (!(weight_kg > 0)) throw Error("DICOM PatientWeight (0010,1030) is zero or negative");
  const double weight_g = weight_kg * 1000.0;
  const std::optional<double> lbm = lean_body_mass_kg(h);

  if (units == "CNTS" && h.philips_suv_scale && *h.philips_suv_scale != 0.0) {
    r.suvbw_factor = *h.philips_suv_scale;
    r.method = "Units CNTS: Philips private SUV Scale Factor (7053,1000)";
    if (lbm) r.sul_factor = r.suvbw_factor * (*lbm / weight_kg);
    return r;
  }
  if (units == "CNTS" && !(h.philips_activity_scale && *h.philips_activity_scale != 0.0))
    throw Error("PET Units (0054,1001) is CNTS but neither Philips private SUV Scale Factor "
                "(7053,1000) nor Activity Concentration Scale Factor (7053,1009) is present");

  const double dose = require(h.total_dose_bq, "RadionuclideTotalDose (0018,1074)");
  if (!(dose > 0)) throw Error("DICOM RadionuclideTotalDose (0018,1074) is zero or negative");
  const std::string decay = upper_trimmed(h.decay_correction);
  if (decay.empty()) missing("DecayCorrection (0054,1102)");

  double decayed_dose = dose;
  if (decay == "START") {
    const double half_life = require(h.half_life_s, "RadionuclideHalfLife (0018,1075)");
    if (!(half_life > 0)) throw Error("DICOM RadionuclideHalfLife (0018,1075) is zero or negative");
    const DecayTimes t = decay_times(h);
    r.injection_time_s = t.injection;
    r.scan_time_s = t.scan;
    r.decay_time_s = t.scan - t.injection;
    decayed_dose = dose * std::pow(2.0, -*r.decay_time_s / half_life);
    r.method = "decay-corrected to scan start";
  } else if (decay == "ADMIN") {
    r.method = "decay-corrected to administration";
  } else {
    throw Error("PET DecayCorrection (0054,1102) is '" + decay +
                "'; SUV conversion supports START and ADMIN");
  }

  r.suvbw_factor = weight_g / decayed_dose;
  if (units == "CNTS") {
    r.suvbw_factor *= *h.philips_activity_scale;
    r.method = "Units CNTS: Philips Activity Concentration Scale Factor (7053,1009), " + r.method;
  } else {
    r.method = "Units BQML, " + r.method;
  }
  if (lbm) r.sul_factor = r.suvbw_factor * (*lbm / weight_kg);
  return r;
}

}  // namespace fratmae
