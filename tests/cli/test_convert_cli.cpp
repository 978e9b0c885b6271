// `fratmae convert` and `fratmae info` as a user runs them: outputs, and every bad input of
// the foundation issue (clear message naming the file, non-zero exit, no partial output).
#include <gtest/gtest.h>

#include <gdcmReader.h>
#include <gdcmWriter.h>
#include <torch/torch.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <thread>
#include <nlohmann/json.hpp>

#include "core/atomic_output.h"
#include "io/image_io.h"
#include "sanitizer.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
using test::run_fratmae;
namespace fs = std::filesystem;

namespace {

fs::path sts001() { return test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/pet_dicom"; }
fs::path sts002_pet() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/PET/image"; }
fs::path sts002_ct() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/CT/image"; }

// Copy a DICOM folder, letting `edit` change each file's data set.
void copy_series(const fs::path& src, const fs::path& dst,
                 const std::function<void(gdcm::DataSet&)>& edit = {}) {
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    if (!edit) {
      fs::copy_file(e.path(), dst / e.path().filename());
      continue;
    }
    gdcm::Reader r;
    r.SetFileName(e.path().c_str());
    ASSERT_TRUE(r.Read()) << e.path();
    edit(r.GetFile().GetDataSet());
    gdcm::Writer w;
    w.SetFile(r.GetFile());
    w.SetFileName((dst / e.path().filename()).c_str());
    ASSERT_TRUE(w.Write());
  }
}

// An edit for copy_series: give every file the UID `uid` in element `tag` (a UI).
std::function<void(gdcm::DataSet&)> set_uid(const gdcm::Tag& tag, const std::string& uid) {
  return [tag, uid](gdcm::DataSet& ds) {
    gdcm::DataElement de(tag);
    de.SetVR(gdcm::VR::UI);
    de.SetByteValue(uid.c_str(), static_cast<uint32_t>(uid.size()));
    ds.Replace(de);
  };
}

// The command failed with a message containing every needle, and left no output behind.
void expect_clean_failure(const test::CommandResult& r, const fs::path& out,
                          const std::vector<std::string>& needles) {
  EXPECT_NE(r.exit_code, 0) << r.output;
  for (const std::string& n : needles) EXPECT_NE(r.output.find(n), std::string::npos) << "missing '" << n << "' in: " << r.output;
  EXPECT_EQ(test::count_entries(out), 0u) << "partial output left in " << out;
}

fs::path first_file(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files.front();
}

}  // namespace

TEST(ConvertCli, HelpAndVersion) {
  auto r = run_fratmae("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("convert"), std::string::npos);
  EXPECT_NE(r.output.find("info"), std::string::npos);
  r = run_fratmae("convert --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--pet-dicom"), std::string::npos);
  r = run_fratmae("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("fratmae "), std::string::npos);
  r = run_fratmae("convert --pet-dicom x --out y --no-such-flag");
  EXPECT_NE(r.exit_code, 0);
  r = run_fratmae("");
  EXPECT_NE(r.exit_code, 0);
}

TEST(ConvertCli, PetCtPairWritesTheAutoPetLayout) {
  test::TempDir tmp;
  const fs::path out = tmp / "study";
  auto r = run_fratmae("convert --pet-dicom " + quote(sts002_pet()) + " --ct-dicom " +
                       quote(sts002_ct()) + " --out " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"SUV.nii.gz", "CT.nii.gz", "CTres.nii.gz", "study.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_EQ(test::count_entries(out), 4u) << "no temporary files left";
  std::ifstream f(out / "study.json");
  const auto study = nlohmann::json::parse(f);
  EXPECT_EQ(study["pet"]["series_uid"].get<std::string>().substr(0, 10), "1.3.6.1.4.");
  EXPECT_EQ(study["pet"]["units"], "GML");
  EXPECT_TRUE(study["pet"].contains("patient_weight_kg"));
  EXPECT_TRUE(study["ct"].contains("series_uid"));
  // A second run refuses to overwrite, and leaves the first run's files as they were.
  const auto before = fs::last_write_time(out / "SUV.nii.gz");
  r = run_fratmae("convert --pet-dicom " + quote(sts002_pet()) + " --out " + quote(out));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--overwrite"), std::string::npos) << r.output;
  EXPECT_EQ(fs::last_write_time(out / "SUV.nii.gz"), before);
  EXPECT_EQ(test::count_entries(out), 4u);
  // `info` on the output folder describes all three images.
  r = run_fratmae("info " + quote(out));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("CTres.nii.gz"), std::string::npos);
  EXPECT_NE(r.output.find("SUVbw"), std::string::npos);
  EXPECT_NE(r.output.find("spacing"), std::string::npos);
}

TEST(ConvertCli, DicomSegBecomesSegNiftiOnThePetGrid) {
  test::TempDir tmp;
  // A SEG of STS_001 made by fratmae itself (the 41%-of-SUVmax floor), then converted back.
  auto r = run_fratmae("predict --floor suvmax41 --pet " + quote(sts001()) + " --out " + quote(tmp / "p"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "p" / "SEG.dcm")) << r.output;
  r = run_fratmae("convert --pet " + quote(sts001()) + " --seg-dicom " + quote(tmp / "p" / "SEG.dcm") + " --out " +
                  quote(tmp / "c"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume suv = io::read_image(tmp / "c" / "SUV.nii.gz");
  const Volume seg = io::read_labels(tmp / "c" / "SEG.nii.gz");
  const Volume floor = io::read_labels(tmp / "p" / "SEG.nii.gz");
  EXPECT_TRUE(seg.geom == suv.geom);
  EXPECT_TRUE(seg.data.ne(0).equal(floor.data.ne(0)));
  const auto study = nlohmann::json::parse(read_file(tmp / "c" / "study.json"));
  EXPECT_EQ(study["seg"]["segments"].size(), 1u);
  EXPECT_EQ(study["seg"]["segments"][0]["label"], "Lesion");
  EXPECT_EQ(study["seg"]["voxels"].get<int64_t>(), floor.data.ne(0).sum().item<int64_t>());

  // A segment it does not have, a SEG given a PET of another frame of reference, --segment alone.
  r = run_fratmae("convert --pet " + quote(sts001()) + " --seg-dicom " + quote(tmp / "p" / "SEG.dcm") +
                  " --segment 3 --out " + quote(tmp / "d"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("has no segment 3"), std::string::npos) << r.output;
  r = run_fratmae("convert --pet " + quote(sts002_pet()) + " --seg-dicom " + quote(tmp / "p" / "SEG.dcm") + " --out " +
                  quote(tmp / "d"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("frame of reference"), std::string::npos) << r.output;
  r = run_fratmae("convert --pet " + quote(sts001()) + " --segment 1 --out " + quote(tmp / "d"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp / "d"));
  // Same frame of reference, but the SEG was derived from another series than the PET given.
  copy_series(sts001(), tmp / "other", set_uid(gdcm::Tag(0x0020, 0x000e), "1.2.826.0.1.3680043.2.1125.1.88888888"));
  r = run_fratmae("convert --pet " + quote(tmp / "other") + " --seg-dicom " + quote(tmp / "p" / "SEG.dcm") + " --out " +
                  quote(tmp / "d"));
  expect_clean_failure(r, tmp / "d", {"SEG.dcm", "neither the PET's nor the CT's"});
}

TEST(ConvertCli, RealQinSegWithElevenSegments) {
  const fs::path qin = test::shared_data_dir() / "mirp_qin_headneck_01_0139";
  if (!fs::exists(qin / "seg/mask.dcm"))
    GTEST_SKIP() << "the QIN PET and SEG are read from ../shared/data/real beside the checkout (not there)";
  test::TempDir tmp;
  auto r = run_fratmae("convert --pet " + quote(qin / "pet_dicom") + " --seg-dicom " + quote(qin / "seg/mask.dcm") +
                       " --segment 1 --out " + quote(tmp / "one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("convert --pet " + quote(qin / "pet_dicom") + " --seg-dicom " + quote(qin / "seg/mask.dcm") +
                  " --out " + quote(tmp / "all"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto one = nlohmann::json::parse(read_file(tmp / "one" / "study.json"));
  const auto all = nlohmann::json::parse(read_file(tmp / "all" / "study.json"));
  EXPECT_EQ(all["seg"]["segments"].size(), 11u);
  EXPECT_EQ(all["seg"]["used"].size(), 11u);
  EXPECT_GT(one["seg"]["voxels"].get<int64_t>(), 0);
  EXPECT_GT(all["seg"]["voxels"].get<int64_t>(), one["seg"]["voxels"].get<int64_t>());
  const Volume suv = io::read_image(tmp / "all" / "SUV.nii.gz");
  const Volume seg = io::read_labels(tmp / "all" / "SEG.nii.gz");
  EXPECT_TRUE(seg.geom == suv.geom);
  // Lesions are hot: mean SUV inside well above the body's.
  const double in = suv.data.masked_select(seg.data.ne(0)).mean().item<double>();
  const double out = suv.data.masked_select(seg.data.eq(0)).mean().item<double>();
  EXPECT_GT(in, 3.0 * out) << in << " vs " << out;
}

TEST(ConvertCli, NiftiPetInput) {
  test::TempDir tmp;
  auto r = run_fratmae("convert --pet-dicom " + quote(sts002_pet()) + " --out " + quote(tmp / "a"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("convert --pet " + quote(tmp / "a/SUV.nii.gz") + " --ct-dicom " +
                  quote(sts002_ct()) + " --out " + quote(tmp / "b"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "b/CTres.nii.gz"));
  // Output into the input's own folder must not replace the input.
  r = run_fratmae("convert --pet " + quote(tmp / "a/SUV.nii.gz") + " --out " + quote(tmp / "a") +
                  " --overwrite");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("input"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "a/SUV.nii.gz"));
}

TEST(ConvertCli, InfoOnDicomFolderAndFile) {
  auto r = run_fratmae("info " + quote(sts001()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("PT"), std::string::npos);
  EXPECT_NE(r.output.find("128 x 128 x 267"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("SUV factor"), std::string::npos);
  r = run_fratmae("info --json " + quote(sts002_ct()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j[0]["modality"], "CT");
  r = run_fratmae("info /no/such/file.nii.gz");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/no/such/file.nii.gz"), std::string::npos);
}

// Under an address-space limit (ulimit -v, 4 GB) an image whose header declares 8 GB of voxels
// is refused by that limit with a message naming the file, not ended by std::bad_alloc; a real
// study still reads under the same limit.
TEST(ConvertCliBadInput, AMemoryLimitRefusesAHeaderBeyondItAndStillReadsAStudy) {
  if (test::kAddressSanitizer) GTEST_SKIP() << test::kNoAddressLimitUnderAsan;
  test::TempDir tmp;
  std::ofstream(tmp / "big.mha") << "ObjectType = Image\nNDims = 3\nDimSize = 1000 1000 1000\n"
                                    "ElementType = MET_FLOAT\nElementDataFile = LOCAL\n0123456789abcdef";
  const std::string limit = "prlimit --as=4000000000 ";  // util-linux: ulimit -v in bytes
  auto r = test::run_command(limit + test::binary() + " info " + quote(tmp / "big.mha"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("big.mha: declares 1000 x 1000 x 1000 voxels (8.0 GB to read)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ulimit -v"), std::string::npos) << r.output;
  r = test::run_command(limit + test::binary() + " info " + quote(sts002_ct()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(ConvertCliBadInput, MissingFolder) {
  test::TempDir tmp;
  auto r = run_fratmae("convert --pet-dicom /no/such/dir --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"/no/such/dir", "no such folder"});
}

TEST(ConvertCliBadInput, NoPetGiven) {
  test::TempDir tmp;
  auto r = run_fratmae("convert --ct-dicom " + quote(sts002_ct()) + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"give exactly one PET input", "--pet PATH"});
}

TEST(ConvertCliBadInput, TruncatedPixelData) {
  test::TempDir tmp;
  copy_series(sts002_pet(), tmp / "pet");
  const fs::path victim = first_file(tmp / "pet");
  fs::resize_file(victim, fs::file_size(victim) - 300);
  auto r = run_fratmae("convert --pet-dicom " + quote(tmp / "pet") + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {victim.filename().string()});
}

TEST(ConvertCliBadInput, TruncatedHeader) {
  test::TempDir tmp;
  copy_series(sts002_pet(), tmp / "pet");
  const fs::path victim = first_file(tmp / "pet");
  fs::resize_file(victim, 200);
  auto r = run_fratmae("convert --pet-dicom " + quote(tmp / "pet") + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {victim.filename().string()});
}

TEST(ConvertCliBadInput, CorruptFile) {
  test::TempDir tmp;
  copy_series(sts002_pet(), tmp / "pet");
  std::ofstream(tmp / "pet/zz-garbage.dcm") << std::string(5000, 'x');
  auto r = run_fratmae("convert --pet-dicom " + quote(tmp / "pet") + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"zz-garbage.dcm", "not a readable DICOM file"});
}

TEST(ConvertCliBadInput, SeveralSeriesInOneFolder) {
  test::TempDir tmp;
  copy_series(sts002_pet(), tmp / "mixed");
  for (const auto& e : fs::directory_iterator(sts002_ct()))
    fs::copy_file(e.path(), tmp / "mixed" / ("ct-" + e.path().filename().string()));
  auto r = run_fratmae("convert --pet-dicom " + quote(tmp / "mixed") + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"mixed", "2 image series", "--pet-series"});
}

TEST(ConvertCliBadInput, NonPetSeriesGivenAsPet) {
  test::TempDir tmp;
  auto r = run_fratmae("convert --pet-dicom " + quote(sts002_ct()) + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"image", "Modality CT, not PT", "give it as --ct"});
}

TEST(ConvertCliBadInput, MissingSuvTag) {
  test::TempDir tmp;
  copy_series(sts001(), tmp / "pet", [](gdcm::DataSet& ds) { ds.Remove(gdcm::Tag(0x0010, 0x1030)); });
  auto r = run_fratmae("convert --pet-dicom " + quote(tmp / "pet") + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {(tmp / "pet").string(), "PatientWeight (0010,1030)"});
}

TEST(ConvertCliBadInput, DifferentFramesOfReference) {
  test::TempDir tmp;
  copy_series(sts002_ct(), tmp / "ct", set_uid(gdcm::Tag(0x0020, 0x0052), "1.2.826.0.1.3680043.2.1125.1.99999999"));
  auto r = run_fratmae("convert --pet-dicom " + quote(sts002_pet()) + " --ct-dicom " +
                       quote(tmp / "ct") + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {(tmp / "ct").string(), "FrameOfReferenceUID"});
  // The user can say they are aligned.
  r = run_fratmae("convert --pet-dicom " + quote(sts002_pet()) + " --ct-dicom " + quote(tmp / "ct") +
                  " --allow-different-frames --out " + quote(tmp / "out"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(ConvertCliBadInput, NonFiniteVoxels) {
  test::TempDir tmp;
  Volume v;
  v.geom.size = {4, 4, 4};
  v.data = torch::ones({4, 4, 4});
  v.data[1][1][1] = std::numeric_limits<float>::quiet_NaN();
  io::write_image(v, tmp / "pet.nii.gz");
  auto r = run_fratmae("convert --pet " + quote(tmp / "pet.nii.gz") + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"pet.nii.gz", "NaN"});
}

TEST(ConvertCliBadInput, InputsAreNeverModified) {
  // Every failure above ran against copies or the repository's data: check the originals.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(sts002_pet())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 48u);
}

// One way to name inputs (issue: `convert --ct DIR` said "give an image file" and --pet FILE.dcm
// took any DICOM file as an SUV image): --pet and --ct take a DICOM folder, one file of the
// series, or an image file, told apart by what is there.
TEST(ConvertCli, PetAndCtTakeAFolderOrAFileOfTheSeries) {
  test::TempDir tmp;
  auto r = run_fratmae("convert --pet " + quote(sts002_pet()) + " --ct " + quote(sts002_ct()) + " --out " + quote(tmp / "dirs"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "dirs/CTres.nii.gz"));
  // One slice of each series stands for its series: the whole series is read and the PET is in SUV.
  r = run_fratmae("convert --pet " + quote(first_file(sts002_pet())) + " --ct " + quote(first_file(sts002_ct())) +
                  " --out " + quote(tmp / "files"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream f(tmp / "files/study.json");
  const auto study = nlohmann::json::parse(f);
  EXPECT_EQ(study["pet"]["source"], "dicom");
  EXPECT_EQ(study["pet"]["num_slices"], 48);
  EXPECT_EQ(study["ct"]["source"], "dicom");
  const Volume a = io::read_image(tmp / "dirs/SUV.nii.gz"), b = io::read_image(tmp / "files/SUV.nii.gz");
  EXPECT_TRUE(at::equal(a.data, b.data));
}

TEST(ConvertCliBadInput, ADicomFileOfAnotherKindIsNotAPetImage) {
  test::TempDir tmp;
  const fs::path rtstruct = test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/rtstruct/1-1.dcm";
  auto r = run_fratmae("convert --pet " + quote(rtstruct) + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"1-1.dcm", "is an RTSTRUCT (contours), not a PET image"});
  r = run_fratmae("convert --pet " + quote(first_file(sts002_ct())) + " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"is a CT image, not a PET image", "give it as --ct"});
  r = run_fratmae("convert --pet " + quote(first_file(sts002_pet())) + " --ct " + quote(first_file(sts002_pet())) +
                  " --out " + quote(tmp / "out"));
  expect_clean_failure(r, tmp / "out", {"is a PET image, not a CT image", "give it as --pet"});
  // The QIN DICOM SEG (in ../shared when it is beside the checkout).
  const fs::path seg = test::shared_data_dir() / "mirp_qin_headneck_01_0139/seg/mask.dcm";
  if (fs::exists(seg)) {
    r = run_fratmae("convert --pet " + quote(seg) + " --out " + quote(tmp / "out"));
    expect_clean_failure(r, tmp / "out", {"mask.dcm", "is a DICOM SEG (segmentation), not a PET image"});
  }
}

// `convert --overwrite` of a PET-only study into a former PET/CT folder used to keep the old CT.
TEST(ConvertCli, OverwriteRemovesTheFilesOfTheFormerStudy) {
  test::TempDir tmp;
  auto r = run_fratmae("convert --pet " + quote(sts002_pet()) + " --ct " + quote(sts002_ct()) + " --out " + quote(tmp / "s"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ofstream(tmp / "s/notes.txt") << "mine";
  r = run_fratmae("convert --pet " + quote(sts002_pet()) + " --out " + quote(tmp / "s") + " --overwrite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "s/SUV.nii.gz"));
  EXPECT_FALSE(fs::exists(tmp / "s/CT.nii.gz"));
  EXPECT_FALSE(fs::exists(tmp / "s/CTres.nii.gz"));
  EXPECT_TRUE(fs::exists(tmp / "s/notes.txt")) << "files fratmae did not write are left alone";
}

namespace {
size_t hidden_temporaries(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    n += e.path().filename().string().rfind(".fratmae-tmp-", 0) == 0;
  return n;
}

// Starts `args`, interrupts it with SIGINT as soon as a temporary file shows under `watch` (or
// after `wait_s`), and returns its wait status; `seen`: whether a temporary file was there.
int interrupt_when_writing(const std::string& args, const fs::path& watch, double wait_s, bool* seen = nullptr) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + test::binary() + " " + args + " > /dev/null 2>&1").c_str(),
          nullptr);
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  int status = 0;
  while (hidden_temporaries(watch) == 0 && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;  // finished before we looked
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (seen) *seen = hidden_temporaries(watch) > 0;
  kill(pid, SIGINT);
  waitpid(pid, &status, 0);
  return status;
}
}  // namespace

// Ctrl-C during `phantom` or `convert` used to leave hidden .fratmae-tmp-* files (6 MB).
TEST(ConvertCli, InterruptedCommandsLeaveNoTemporaryFiles) {
  test::TempDir tmp;
  bool seen = false;
  int status = interrupt_when_writing("phantom --cases 40 --out " + quote(tmp / "ph"), tmp / "ph", 60, &seen);
  EXPECT_TRUE(seen) << "the interrupt came while a file was being written";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << status;
  EXPECT_EQ(hidden_temporaries(tmp / "ph"), 0u);
  status = interrupt_when_writing("convert --pet " + quote(sts001()) + " --out " + quote(tmp / "cv"), tmp / "cv", 60);
  EXPECT_EQ(hidden_temporaries(tmp / "cv"), 0u);
  EXPECT_FALSE(fs::exists(tmp / "cv/SUV.nii.gz") && !fs::exists(tmp / "cv/study.json")) << "all or nothing";
}

// Issue: `info` on a study's parent folder found nothing, and a DICOM SEG was "(no pixel data)".
TEST(ConvertCli, InfoLooksIntoSubFoldersAndSaysWhatAnObjectIs) {
  auto r = run_fratmae("info --json " + quote(test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  std::set<std::string> modalities;
  for (const auto& e : j)
    if (e.contains("modality")) modalities.insert(e["modality"].get<std::string>());
  EXPECT_TRUE(modalities.count("CT") && modalities.count("PT")) << r.output;  // PET/image, CT/image
  r = run_fratmae("info " + quote(test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/rtstruct"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("an RTSTRUCT (contours), not an image series"), std::string::npos) << r.output;
  const fs::path seg = test::shared_data_dir() / "mirp_qin_headneck_01_0139/seg";
  if (fs::exists(seg)) {
    r = run_fratmae("info " + quote(seg));
    EXPECT_NE(r.output.find("a DICOM SEG (segmentation), not an image series"), std::string::npos) << r.output;
  }
  test::TempDir empty;
  fs::create_directories(empty / "a/b");
  r = run_fratmae("info " + quote(empty.path()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("nor do its sub-folders"), std::string::npos) << r.output;
}
