// DICOM date and time values (DA, TM, DT) as seconds on one time line.
//
// Seconds are counted from 1970-01-01T00:00:00 in the scanner's local time (time-zone
// offsets in DT values are ignored: every time in one study comes from one clock).
#pragma once

#include <string>

namespace fratmae::dicom {

/// "YYYYMMDD" -> seconds at midnight. Throws fratmae::Error naming `tag` on a malformed value.
double parse_da(const std::string& value, const std::string& tag);
/// "HHMMSS.FFFFFF" (MM, SS, fraction optional; "HH:MM:SS" accepted) -> seconds after midnight.
double parse_tm(const std::string& value, const std::string& tag);
/// "YYYYMMDDHHMMSS.FFFFFF&ZZXX" (parts after the date optional) -> seconds.
double parse_dt(const std::string& value, const std::string& tag);

}  // namespace fratmae::dicom
