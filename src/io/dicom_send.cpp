#include "io/dicom_send.h"

// DCMTK only here (see dicom_seg.cpp).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/oflog/oflog.h>

#include <cctype>
#include <cstdio>

#include "core/error.h"

namespace fratmae::io {

DicomPeer DicomPeer::parse(const std::string& text) {
  const std::string usage = " (give AET@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242)";
  const size_t at = text.find('@'), colon = text.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon < at)
    throw Error("--send '" + text + "': not a DICOM node" + usage);
  DicomPeer p;
  p.ae_title = text.substr(0, at);
  p.host = text.substr(at + 1, colon - at - 1);
  const std::string port = text.substr(colon + 1);
  if (p.ae_title.empty() || p.ae_title.size() > 16)
    throw Error("--send '" + text + "': the AE title must have 1 to 16 characters" + usage);
  for (char c : p.ae_title)
    if (c == '\\' || std::iscntrl(static_cast<unsigned char>(c)))
      throw Error("--send '" + text + "': the AE title may not hold a backslash or control characters");
  if (p.host.empty()) throw Error("--send '" + text + "': no host" + usage);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) < 1 || std::stoi(port) > 65535)
    throw Error("--send '" + text + "': the port must be a number from 1 to 65535" + usage);
  p.port = static_cast<uint16_t>(std::stoi(port));
  return p;
}

std::string DicomPeer::to_string() const { return ae_title + "@" + host + ":" + std::to_string(port); }

void send_dicom(const std::filesystem::path& file, const DicomPeer& peer) {
  static const bool quiet = [] {
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    return true;
  }();
  (void)quiet;
  DcmFileFormat ff;
  if (ff.loadFile(file.string().c_str()).bad()) throw FileError(file, "not a readable DICOM file to send");
  OFString sop_class;
  ff.getDataset()->findAndGetOFString(DCM_SOPClassUID, sop_class);
  if (sop_class.empty()) throw FileError(file, "has no SOP Class UID to send it as");

  const std::string where = "sending " + file.filename().string() + " to " + peer.to_string();
  DcmSCU scu;
  scu.setAETitle(peer.calling_ae_title.c_str());
  scu.setPeerAETitle(peer.ae_title.c_str());
  scu.setPeerHostName(peer.host.c_str());
  scu.setPeerPort(peer.port);
  scu.setConnectionTimeout(peer.timeout_s);
  scu.setACSETimeout(static_cast<Uint32>(peer.timeout_s));
  scu.setDIMSETimeout(static_cast<Uint32>(peer.timeout_s));
  OFList<OFString> syntaxes;
  syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
  syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
  scu.addPresentationContext(sop_class, syntaxes);
  OFCondition c = scu.initNetwork();
  if (c.bad()) throw Error(where + ": network set-up failed: " + c.text());
  c = scu.negotiateAssociation();
  if (c.bad())
    throw Error(where + ": no association (" + std::string(c.text()) +
                "): is the PACS running there, and does it accept this AE title?");
  const T_ASC_PresentationContextID id = scu.findAnyPresentationContextID(sop_class, UID_LittleEndianExplicitTransferSyntax);
  if (id == 0) {
    scu.abortAssociation();
    throw Error(where + ": the PACS accepts no " + std::string(dcmFindNameOfUID(sop_class.c_str(), "this kind of")) +
                " object");
  }
  Uint16 status = 0xFFFF;
  c = scu.sendSTORERequest(id, file.string().c_str(), nullptr, status);
  if (c.bad()) {
    scu.abortAssociation();
    throw Error(where + ": C-STORE failed: " + c.text());
  }
  scu.releaseAssociation();
  if (status != 0x0000 && status != 0xB000 && status != 0xB007 && status != 0xB006) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04X", status);
    throw Error(where + ": the PACS answered status 0x" + std::string(hex) + " (not stored)");
  }
}

}  // namespace fratmae::io
