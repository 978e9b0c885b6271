// Storing DICOM objects to a PACS (a DICOM C-STORE SCU, through DCMTK's dcmnet).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace fratmae::io {

/// A DICOM node: called AE title, host and port, written "AET@HOST:PORT" (e.g. ORTHANC@127.0.0.1:4242).
struct DicomPeer {
  std::string ae_title, host;
  uint16_t port = 0;
  std::string calling_ae_title = "FRATMAE";
  int timeout_s = 30;
  /// Parses "AET@HOST:PORT"; throws fratmae::Error saying what is wrong.
  static DicomPeer parse(const std::string& text);
  std::string to_string() const;
};

/// C-STORE `file` to `peer` over one association. Throws Error when the association is refused,
/// the peer cannot be reached, or the store's response status is not success (0x0000) or a
/// warning (0xB000, 0xB007, 0xB006); the message names the peer and the status.
void send_dicom(const std::filesystem::path& file, const DicomPeer& peer);

}  // namespace fratmae::io
