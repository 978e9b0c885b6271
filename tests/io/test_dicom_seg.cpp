// DICOM SEG out (a mask on a real PET's grid -> SEG, read back, checked by dciodvfy) and in
// (the real QIN SEG with 11 segments onto its PET's grid; bad files refused).
#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <torch/torch.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/atomic_output.h"
#include "core/error.h"
#include "io/dicom_seg.h"
#include "io/dicom_series.h"
#include "io/image_io.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {

fs::path sts001() { return test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/pet_dicom"; }
fs::path qin_pet() { return test::shared_data_dir() / "mirp_qin_headneck_01_0139/pet_dicom"; }
fs::path qin_seg() { return test::shared_data_dir() / "mirp_qin_headneck_01_0139/seg/mask.dcm"; }

std::string tag(DcmItem& item, const DcmTagKey& key) {
  OFString v;
  item.findAndGetOFStringArray(key, v);
  return v.c_str();
}

std::map<std::string, std::string> top_level(const fs::path& file) {
  DcmFileFormat ff;
  EXPECT_TRUE(ff.loadFile(file.c_str()).good()) << file;
  DcmDataset& d = *ff.getDataset();
  return {{"modality", tag(d, DCM_Modality)},          {"study", tag(d, DCM_StudyInstanceUID)},
          {"series", tag(d, DCM_SeriesInstanceUID)},   {"frame", tag(d, DCM_FrameOfReferenceUID)},
          {"patient", tag(d, DCM_PatientID)},          {"sop", tag(d, DCM_SOPInstanceUID)},
          {"frames", tag(d, DCM_NumberOfFrames)},      {"software", tag(d, DCM_SoftwareVersions)}};
}

// The SOP Instance UID each frame's Derivation Image Sequence names.
std::vector<std::string> frame_sources(const fs::path& file) {
  DcmFileFormat ff;
  EXPECT_TRUE(ff.loadFile(file.c_str()).good());
  DcmDataset& d = *ff.getDataset();
  std::vector<std::string> out;
  for (long f = 0;; ++f) {
    DcmItem* frame = nullptr;
    if (d.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, f).bad()) break;
    DcmItem *der = nullptr, *src = nullptr;
    if (frame->findAndGetSequenceItem(DCM_DerivationImageSequence, der, 0).bad() ||
        der->findAndGetSequenceItem(DCM_SourceImageSequence, src, 0).bad()) {
      out.push_back("");
      continue;
    }
    out.push_back(tag(*src, DCM_ReferencedSOPInstanceUID));
  }
  return out;
}

// A mask with three blobs on the STS_001 grid (nk, nj, ni), one of them on the first slice.
at::Tensor three_blobs(const Geometry& g) {
  at::Tensor m = at::zeros({g.size[2], g.size[1], g.size[0]}, at::kByte);
  m.narrow(0, 0, 1).narrow(1, 60, 3).narrow(2, 70, 2).fill_(1);
  m.narrow(0, 100, 4).narrow(1, 40, 5).narrow(2, 50, 6).fill_(1);
  m.narrow(0, 200, 2).narrow(1, 10, 1).narrow(2, 120, 8).fill_(1);
  return m;
}

}  // namespace

TEST(DicomSeg, MaskOnRealPetRoundTripsAndReferencesItsSlices) {
  const io::DicomSeries pet = io::pick_series(sts001(), std::nullopt, "PET");
  const Volume vol = io::read_series(pet);
  const at::Tensor mask = three_blobs(vol.geom);
  test::TempDir tmp;
  io::DicomSegWriteInfo info;
  info.algorithm_version = "test";
  const int64_t frames = io::write_dicom_seg(mask, vol.geom, pet, tmp / "SEG.dcm", info);
  EXPECT_EQ(frames, 1 + 4 + 2);  // one frame per slice with a lesion voxel

  // Same patient, study and frame of reference as the PET; a series of its own.
  const auto seg = top_level(tmp / "SEG.dcm"), src = top_level(pet.files.front());
  EXPECT_EQ(seg.at("modality"), "SEG");
  EXPECT_EQ(seg.at("study"), src.at("study"));
  EXPECT_EQ(seg.at("patient"), src.at("patient"));
  EXPECT_EQ(seg.at("frame"), src.at("frame"));
  EXPECT_EQ(seg.at("frame"), pet.frame_of_reference_uid);
  EXPECT_NE(seg.at("series"), src.at("series"));
  EXPECT_EQ(seg.at("frames"), "7");
  EXPECT_EQ(seg.at("software"), "test");

  // Each frame derives from the PET instance of its own slice.
  std::vector<std::string> expected;
  for (int64_t k : {0, 100, 101, 102, 103, 200, 201}) expected.push_back(top_level(pet.files[k]).at("sop"));
  EXPECT_EQ(frame_sources(tmp / "SEG.dcm"), expected);

  // Read back: the same voxels, one segment "Lesion".
  const io::DicomSegLabels back = io::read_dicom_seg(tmp / "SEG.dcm", vol.geom, pet.frame_of_reference_uid);
  ASSERT_EQ(back.segments.size(), 1u);
  EXPECT_EQ(back.segments[0].label, "Lesion");
  EXPECT_EQ(back.segments[0].type, "Lesion");
  EXPECT_EQ(back.segments[0].frames, 7);
  EXPECT_TRUE(back.mask.geom == vol.geom);
  EXPECT_TRUE(back.mask.data.equal(mask)) << back.mask.data.sum().item<int64_t>() << " vs " << mask.sum().item<int64_t>();

  // dciodvfy (Debian's dicom3tools) finds no error in the object.
  const auto [errors, report] = test::dciodvfy(tmp / "SEG.dcm");
  if (errors < 0) GTEST_SKIP() << "dciodvfy (dicom3tools) is not installed: scripts/install-deps.sh installs it";
  EXPECT_EQ(errors, 0) << report;
}

TEST(DicomSeg, EmptyMaskAndMismatchedGridAreRefused) {
  const io::DicomSeries pet = io::pick_series(sts001(), std::nullopt, "PET");
  const Volume vol = io::read_series(pet);
  test::TempDir tmp;
  const at::Tensor empty = at::zeros({vol.geom.size[2], vol.geom.size[1], vol.geom.size[0]}, at::kByte);
  EXPECT_THROW(io::write_dicom_seg(empty, vol.geom, pet, tmp / "SEG.dcm", {}), Error);
  EXPECT_FALSE(fs::exists(tmp / "SEG.dcm"));
  const at::Tensor wrong = at::ones({3, 4, 5}, at::kByte);
  EXPECT_THROW(io::write_dicom_seg(wrong, vol.geom, pet, tmp / "SEG.dcm", {}), Error);
}

TEST(DicomSeg, ReadingRefusesWhatIsNotASegmentation) {
  const io::DicomSeries pet = io::pick_series(sts001(), std::nullopt, "PET");
  const Volume vol = io::read_series(pet);
  test::TempDir tmp;
  auto message = [&](const fs::path& file, const std::string& frame_uid = "") {
    try {
      io::read_dicom_seg(file, vol.geom, frame_uid);
    } catch (const FileError& e) {
      EXPECT_EQ(e.path(), file);
      return std::string(e.what());
    }
    ADD_FAILURE() << file << " was read";
    return std::string();
  };
  EXPECT_NE(message(tmp / "missing.dcm").find("no such file"), std::string::npos);
  EXPECT_NE(message(pet.files.front()).find("not a readable DICOM Segmentation"), std::string::npos);
  {
    std::ofstream(tmp / "junk.dcm") << "not DICOM at all";
  }
  EXPECT_NE(message(tmp / "junk.dcm").find("not a readable DICOM Segmentation"), std::string::npos);

  // A SEG cut short, and one of another frame of reference.
  io::DicomSegWriteInfo info;
  info.algorithm_version = "test";
  io::write_dicom_seg(three_blobs(vol.geom), vol.geom, pet, tmp / "SEG.dcm", info);
  const std::string bytes = read_file(tmp / "SEG.dcm");
  {
    std::ofstream f(tmp / "cut.dcm", std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  EXPECT_FALSE(message(tmp / "cut.dcm").empty());
  EXPECT_NE(message(tmp / "SEG.dcm", "1.2.3.4").find("frame of reference"), std::string::npos);
  EXPECT_NO_THROW(io::read_dicom_seg(tmp / "SEG.dcm", vol.geom, "1.2.3.4", {}, /*allow_different_frames=*/true));
  try {
    io::read_dicom_seg(tmp / "SEG.dcm", vol.geom, "", {2});
    ADD_FAILURE() << "segment 2 of a one-segment SEG was read";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("has no segment 2"), std::string::npos) << e.what();
  }
}

TEST(DicomSeg, RealQinSegmentationWithElevenLesionsOntoItsPet) {
  if (!fs::exists(qin_seg()))
    GTEST_SKIP() << "the QIN PET and SEG are read from ../shared/data/real beside the checkout (not there)";
  const io::DicomSeries pet = io::pick_series(qin_pet(), std::nullopt, "PET");
  const Volume vol = io::read_series(pet);
  const io::DicomSegLabels all = io::read_dicom_seg(qin_seg(), vol.geom, pet.frame_of_reference_uid);
  ASSERT_EQ(all.segments.size(), 11u);
  int64_t frames = 0;
  for (const auto& s : all.segments) frames += s.frames;
  EXPECT_EQ(frames, 171);  // NOTE.md: 171 frames
  EXPECT_TRUE(all.mask.geom == vol.geom);
  const int64_t voxels = all.mask.data.sum().item<int64_t>();
  EXPECT_GT(voxels, 0);
  // The union of the segments one by one is the whole; each lesion is hot on the PET.
  at::Tensor uni = at::zeros_like(all.mask.data);
  for (const auto& s : all.segments) {
    const io::DicomSegLabels one = io::read_dicom_seg(qin_seg(), vol.geom, pet.frame_of_reference_uid, {s.number});
    EXPECT_GT(one.mask.data.sum().item<int64_t>(), 0) << "segment " << s.number;
    uni.bitwise_or_(one.mask.data);
  }
  EXPECT_TRUE(uni.equal(all.mask.data));
  const at::Tensor pet_in = vol.data.masked_select(all.mask.data.to(at::kBool));
  const at::Tensor pet_out = vol.data.masked_select(all.mask.data.eq(0));
  EXPECT_GT(pet_in.mean().item<double>(), 3.0 * pet_out.mean().item<double>());
}
