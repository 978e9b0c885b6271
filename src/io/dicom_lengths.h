// The declared lengths of a DICOM file's data elements, checked against the file before a DICOM
// library reads it. GDCM (and DCMTK) allocate an element's value at its declared length and then
// read: a damaged length field in a 26 kB SEG made GDCM allocate 1.3 GB before failing
// (found by fuzzing, scripts/fuzz.sh dicom_file). With this check such a file is refused at
// once with a message naming the file, the element and the bytes it claims.
#pragma once

#include <filesystem>

namespace fratmae::io {

/// Walks every data element of `file` (the File Meta group, then the data set in its transfer
/// syntax, into sequences, items and encapsulated pixel data) without reading any value, and
/// throws FileError naming `file` when an element, item or sequence declares more bytes than
/// its enclosing item or the file holds, when sequences nest deeper than 64, and on what makes
/// GDCM stop the process with an assertion (a VR DICOM does not define, a sequence delimitation
/// where an element belongs, pixel data as a sequence, an undefined length on a VR that cannot
/// have one). Files in
/// big-endian or deflated transfer syntaxes, and files that do not parse as DICOM at all, are
/// left to the library (which reports them).
void check_dicom_lengths(const std::filesystem::path& file);

}  // namespace fratmae::io
