// Storing to a PACS: DICOM nodes parsed, a real Orthanc (Debian's `orthanc`) started on
// 127.0.0.1 for the test, `fratmae predict --send` storing its SEG there; unreachable nodes.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_output.h"
#include "core/error.h"
#include "io/dicom_send.h"
#include "test_util.h"

extern char** environ;

using namespace fratmae;
using test::quote;
using test::run_fratmae;
namespace fs = std::filesystem;

namespace {

fs::path sts002_pet() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/PET/image"; }
fs::path sts002_ct() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/CT/image"; }

uint16_t free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool listening(uint16_t port) {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// A local Orthanc (DICOM only, no HTTP server) in a temporary folder; stopped at scope exit.
class Orthanc {
 public:
  Orthanc() {
    if (test::run_command("command -v Orthanc").exit_code != 0) return;
    port_ = free_port();
    const nlohmann::json cfg = {{"Name", "fratmae-test"},
                                {"StorageDirectory", (dir_ / "storage").string()},
                                {"IndexDirectory", (dir_ / "index").string()},
                                {"DicomAet", "ORTHANC"},
                                {"DicomPort", port_},
                                {"DicomServerEnabled", true},
                                {"DicomCheckCalledAet", true},
                                {"DicomAlwaysAllowStore", true},
                                {"HttpServerEnabled", false},
                                {"RemoteAccessAllowed", false},
                                {"StorageCompression", false},
                                {"Plugins", nlohmann::json::array()}};
    std::ofstream(dir_ / "orthanc.json") << cfg.dump(2);
    const std::string config = (dir_ / "orthanc.json").string(), log = "--logdir=" + dir_.path().string();
    char* argv[] = {const_cast<char*>("Orthanc"), const_cast<char*>(log.c_str()), const_cast<char*>(config.c_str()),
                    nullptr};
    if (::posix_spawnp(&pid_, "Orthanc", nullptr, nullptr, argv, environ) != 0) {
      pid_ = 0;
      return;
    }
    for (int i = 0; i < 200 && !listening(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ~Orthanc() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  bool running() const { return pid_ > 0 && listening(port_); }
  uint16_t port() const { return port_; }
  // SOP Instance UIDs of what Orthanc stored.
  std::vector<std::string> stored() const {
    std::vector<std::string> uids;
    if (!fs::exists(dir_ / "storage")) return uids;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "storage")) {
      if (!e.is_regular_file()) continue;
      DcmFileFormat ff;
      if (ff.loadFile(e.path().c_str()).bad()) continue;
      OFString uid;
      ff.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid);
      uids.push_back(uid.c_str());
    }
    return uids;
  }

 private:
  test::TempDir dir_;
  pid_t pid_ = 0;
  uint16_t port_ = 0;
};

std::string sop_instance(const fs::path& file) {
  DcmFileFormat ff;
  EXPECT_TRUE(ff.loadFile(file.c_str()).good());
  OFString uid;
  ff.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid);
  return uid.c_str();
}


}  // namespace

TEST(DicomSend, NodesAreParsedAndMalformedOnesRefused) {
  const io::DicomPeer p = io::DicomPeer::parse("ORTHANC@127.0.0.1:4242");
  EXPECT_EQ(p.ae_title, "ORTHANC");
  EXPECT_EQ(p.host, "127.0.0.1");
  EXPECT_EQ(p.port, 4242);
  EXPECT_EQ(p.to_string(), "ORTHANC@127.0.0.1:4242");
  EXPECT_EQ(io::DicomPeer::parse("PACS@pacs.hospital.example:104").host, "pacs.hospital.example");
  for (const char* bad : {"ORTHANC", "127.0.0.1:4242", "@host:1", "A@:1", "A@host", "A@host:0", "A@host:70000",
                          "A@host:12x", "SEVENTEENCHARSLONG@h:1"})
    EXPECT_NE(test::error_message([&] { io::DicomPeer::parse(bad); }).find("--send"), std::string::npos) << bad;
}

TEST(DicomSend, NobodyListeningIsAClearError) {
  const uint16_t port = free_port();
  const fs::path file = fs::directory_iterator(sts002_pet())->path();
  try {
    io::send_dicom(file, io::DicomPeer::parse("PACS@127.0.0.1:" + std::to_string(port)));
    ADD_FAILURE() << "sent to a closed port";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("PACS@127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
  }
}

TEST(DicomSend, PredictStoresItsSegToALocalOrthanc) {
  Orthanc pacs;
  if (!pacs.running()) GTEST_SKIP() << "Orthanc (Debian's orthanc) is not installed or did not start: "
                                       "scripts/install-deps.sh installs it";
  test::TempDir tmp;
  const std::string node = "ORTHANC@127.0.0.1:" + std::to_string(pacs.port());
  auto r = run_fratmae("predict --floor suvmax41 --ct " + quote(sts002_ct()) + " --pet " + quote(sts002_pet()) +
                       " --out " + quote(tmp / "p") + " --send " + node);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "p" / "SEG.dcm"));
  const auto rec = nlohmann::json::parse(read_file(tmp / "p" / "prediction.json"));
  EXPECT_EQ(rec["dicom_seg"]["sent_to"], node);
  const auto stored = pacs.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0], sop_instance(tmp / "p" / "SEG.dcm"));

  // A wrong called AE title: the association is refused, nothing is written.
  r = run_fratmae("predict --floor suvmax41 --ct " + quote(sts002_ct()) + " --pet " + quote(sts002_pet()) + " --out " +
                  quote(tmp / "q") + " --send NOTORTHANC@127.0.0.1:" + std::to_string(pacs.port()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no association"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "q"));
  EXPECT_EQ(pacs.stored().size(), 1u);

  // --send with a NIfTI PET (no DICOM study to return to), or a malformed node: refused.
  r = run_fratmae("predict --floor suvmax41 --pet " + quote(tmp / "p" / "SEG.nii.gz") + " --out " + quote(tmp / "n") +
                  " --send " + node);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("needs a DICOM PET"), std::string::npos) << r.output;
  r = run_fratmae("predict --floor suvmax41 --pet " + quote(sts002_pet()) + " --out " + quote(tmp / "n") +
                  " --send ORTHANC@127.0.0.1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp / "n"));
}
