// PET standardised uptake value (SUV) from DICOM header fields.
//
// The factor returned multiplies the stored PET values (after each slice's RescaleSlope and
// RescaleIntercept) to give SUVbw in g/mL:
//
//   Units BQML, DecayCorrection START: SUVbw = C * W / (D * 2^(-(t_scan - t_inj) / T_half))
//   Units BQML, DecayCorrection ADMIN: SUVbw = C * W / D          (already decayed to injection)
//   Units GML:                         already SUVbw, factor 1
//   Units CNTS (Philips):              private SUV Scale Factor (7053,1000) where present,
//                                      else Activity Concentration Scale Factor (7053,1009)
//                                      times the BQML factor
//
// with W the weight in g, D the injected dose in Bq, T_half the half-life in s. The scan
// time is the SeriesDate/SeriesTime unless an AcquisitionDate/Time of the series is earlier
// (then the earliest acquisition time; GE's private post-injection DateTime (0009,100d)
// wins where present). The injection time is RadiopharmaceuticalStartDateTime, or
// RadiopharmaceuticalStartTime on the series date. This is the rule set of the open-source
// calculate-suv project (MIT licence), whose published test cases our tests reproduce.
//
// SUL (SUV normalised by lean body mass, Janmahasatian et al. 2005) is reported as an extra
// factor when PatientSize (height) and PatientSex are present.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace fratmae {

/// The header fields SUV needs, as text from one series (DICOM string values, untrimmed ok).
/// Empty string / nullopt = tag absent.
struct PetHeader {
  std::string modality;                  // (0008,0060)
  std::string units;                     // (0054,1001)
  std::string decay_correction;          // (0054,1102)
  std::vector<std::string> corrected_image;  // (0028,0051)
  std::optional<double> patient_weight_kg;   // (0010,1030)
  std::optional<double> patient_size_m;      // (0010,1020)
  std::string patient_sex;                   // (0010,0040)
  std::optional<double> total_dose_bq;       // (0018,1074) in (0054,0016)
  std::optional<double> half_life_s;         // (0018,1075) in (0054,0016)
  std::string radiopharmaceutical;           // (0018,0031) in (0054,0016)
  std::string radiopharm_start_datetime;     // (0018,1078) in (0054,0016)
  std::string radiopharm_start_time;         // (0018,1072) in (0054,0016)
  std::string series_date, series_time;      // (0008,0021), (0008,0031)
  /// AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032) of every instance.
  std::vector<std::pair<std::string, std::string>> acquisition;
  std::string ge_post_injection_datetime;        // (0009,100d), GE private
  std::optional<double> philips_suv_scale;       // (7053,1000), Philips private
  std::optional<double> philips_activity_scale;  // (7053,1009), Philips private
};

struct SuvResult {
  double suvbw_factor = 1.0;           // stored value x factor = SUVbw (g/mL)
  std::optional<double> sul_factor;    // stored value x factor = SUL (lean body mass), if known
  std::string method;                  // which rule applied, for study.json
  std::optional<double> decay_time_s;  // injection -> scan, where used
  std::optional<double> injection_time_s, scan_time_s;  // on dicom_time's time line
};

/// Throws fratmae::Error naming the missing or invalid tag.
SuvResult compute_suv(const PetHeader& h);

/// Parse a DICOM decimal string (DS); nullopt when empty. Throws naming `tag` when invalid.
std::optional<double> parse_ds(const std::string& value, const std::string& tag);

}  // namespace fratmae
