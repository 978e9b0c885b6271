// RTSTRUCT in: the even-odd fill against hand-counted polygons, the real STS_001 and STS_002
// structure sets onto their images (volume against the contours' own area), bad files and ROIs.
#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <torch/torch.h>

#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/atomic_output.h"
#include "core/error.h"
#include "io/dicom_series.h"
#include "io/image_io.h"
#include "io/rtstruct.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
using test::run_fratmae;
namespace fs = std::filesystem;

namespace {

fs::path sts001_pet() { return test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/pet_dicom"; }
fs::path sts001_rs() { return test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/rtstruct/1-1.dcm"; }
fs::path sts002() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom"; }

using Polygon = std::vector<std::array<double, 2>>;

Polygon square(double lo, double hi) { return {{lo, lo}, {hi, lo}, {hi, hi}, {lo, hi}}; }

// Sum over the ROI's closed contours of |shoelace area| (mm^2) times the slice spacing: the
// volume the contours describe when none is a hole (mL).
double contour_volume_ml(const fs::path& rs, int roi, double slice_mm) {
  DcmFileFormat ff;
  EXPECT_TRUE(ff.loadFile(rs.c_str()).good());
  DcmDataset& ds = *ff.getDataset();
  double area = 0;
  for (long r = 0;; ++r) {
    DcmItem* it = nullptr;
    if (ds.findAndGetSequenceItem(DCM_ROIContourSequence, it, r).bad()) break;
    Sint32 n = 0;
    it->findAndGetSint32(DCM_ReferencedROINumber, n);
    if (n != roi) continue;
    for (long c = 0;; ++c) {
      DcmItem* ct = nullptr;
      if (it->findAndGetSequenceItem(DCM_ContourSequence, ct, c).bad()) break;
      DcmElement* el = nullptr;
      if (ct->findAndGetElement(DCM_ContourData, el).bad() || !el) continue;
      const unsigned long count = el->getVM();
      std::vector<double> v(count);
      for (unsigned long i = 0; i < count; ++i) el->getFloat64(v[i], i);
      double a = 0;
      const size_t m = count / 3;
      for (size_t i = 0; i < m; ++i) {
        const size_t j = (i + 1) % m;
        a += v[3 * i] * v[3 * j + 1] - v[3 * j] * v[3 * i + 1];  // x, y (axial contours)
      }
      area += std::abs(a) / 2;
    }
  }
  return area * slice_mm / 1000.0;
}

}  // namespace

TEST(RtStruct, EvenOddFillCountsVoxelCentres) {
  at::Tensor s = at::zeros({10, 10}, at::kByte);
  io::xor_polygon(s, square(1.5, 4.5));  // centres 2, 3, 4 on both axes
  EXPECT_EQ(s.sum().item<int64_t>(), 9);
  EXPECT_EQ(s[3][3].item<int>(), 1);
  EXPECT_EQ(s[1][1].item<int>(), 0);
  EXPECT_EQ(s[5][5].item<int>(), 0);
  // A contour inside another on the same slice is a hole (XOR).
  at::Tensor ring = at::zeros({10, 10}, at::kByte);
  io::xor_polygon(ring, square(0.5, 7.5));  // 7 x 7
  io::xor_polygon(ring, square(2.5, 4.5));  // 2 x 2 hole
  EXPECT_EQ(ring.sum().item<int64_t>(), 49 - 4);
  EXPECT_EQ(ring[3][3].item<int>(), 0);
  // Order of vertices does not matter; a polygon partly outside the slice is clipped.
  at::Tensor cw = at::zeros({10, 10}, at::kByte);
  Polygon rev = square(1.5, 4.5);
  std::reverse(rev.begin(), rev.end());
  io::xor_polygon(cw, rev);
  EXPECT_TRUE(cw.equal(s));
  at::Tensor clip = at::zeros({10, 10}, at::kByte);
  io::xor_polygon(clip, square(6.5, 20));
  EXPECT_EQ(clip.sum().item<int64_t>(), 3 * 3);
  // A right triangle with legs of 8 voxels: about half of 64 centres.
  at::Tensor tri = at::zeros({10, 10}, at::kByte);
  io::xor_polygon(tri, {{0.5, 0.5}, {8.5, 0.5}, {0.5, 8.5}});
  EXPECT_NEAR(tri.sum().item<double>(), 32.0, 5.0);
  EXPECT_EQ(tri[1][1].item<int>(), 1);
  EXPECT_EQ(tri[7][7].item<int>(), 0);
  // Fewer than three points enclose nothing.
  at::Tensor none = at::zeros({10, 10}, at::kByte);
  io::xor_polygon(none, {{1, 1}, {5, 5}});
  EXPECT_EQ(none.sum().item<int64_t>(), 0);
}

TEST(RtStruct, RealSts001RoisOntoTheirPet) {
  const std::vector<io::RtRoi> rois = io::rtstruct_rois(sts001_rs());
  ASSERT_EQ(rois.size(), 2u);
  EXPECT_EQ(rois[0].name, "GTV_Mass");
  EXPECT_EQ(rois[1].name, "GTV_Edema");
  const io::DicomSeries pet = io::pick_series(sts001_pet(), std::nullopt, "PET");
  EXPECT_EQ(io::rtstruct_referenced_series(sts001_rs()), pet.series_uid);
  const Volume vol = io::read_series(pet);
  for (const io::RtRoi& roi : rois) {
    const io::RtStructLabels l = io::rasterise_rtstruct(sts001_rs(), roi.name, vol.geom, pet.frame_of_reference_uid);
    EXPECT_EQ(l.contours_filled, roi.contours);
    EXPECT_EQ(l.skipped_open + l.skipped_points, 0);
    const double ml = l.mask.data.sum().item<double>() * vol.geom.voxel_volume_mm3() / 1000.0;
    const double expected = contour_volume_ml(sts001_rs(), roi.number, vol.geom.spacing[2]);
    // The contours trace voxel edges (drawn on this PET): the fill gives their area.
    EXPECT_NEAR(ml, expected, 0.05 * expected) << roi.name;
    // The same ROI by its number.
    const io::RtStructLabels by_number =
        io::rasterise_rtstruct(sts001_rs(), std::to_string(roi.number), vol.geom, pet.frame_of_reference_uid);
    EXPECT_TRUE(by_number.mask.data.equal(l.mask.data));
  }
  // The tumour is hot on the PET: its mean uptake is well above the image's.
  const io::RtStructLabels mass = io::rasterise_rtstruct(sts001_rs(), "GTV_Mass", vol.geom, pet.frame_of_reference_uid);
  const double in = vol.data.masked_select(mass.mask.data.ne(0)).mean().item<double>();
  EXPECT_GT(in, 3.0 * vol.data.mean().item<double>());
}

TEST(RtStruct, MissingRoiListsThemAndBadFilesAreRefused) {
  const io::DicomSeries pet = io::pick_series(sts001_pet(), std::nullopt, "PET");
  const Volume vol = io::read_series(pet);
  std::string m = test::error_message([&] { io::rasterise_rtstruct(sts001_rs(), "GTV", vol.geom, ""); });
  EXPECT_NE(m.find("no ROI named or numbered 'GTV'"), std::string::npos) << m;
  EXPECT_NE(m.find("1 GTV_Mass"), std::string::npos) << m;
  EXPECT_NE(m.find("2 GTV_Edema"), std::string::npos) << m;
  m = test::error_message([&] { io::rasterise_rtstruct(sts001_rs(), "", vol.geom, ""); });
  EXPECT_NE(m.find("--roi"), std::string::npos) << m;
  m = test::error_message([&] { io::rasterise_rtstruct(sts001_rs(), "GTV_Mass", vol.geom, "1.2.3"); });
  EXPECT_NE(m.find("frame of reference"), std::string::npos) << m;
  m = test::error_message([&] { io::rtstruct_rois(pet.files.front()); });
  EXPECT_NE(m.find("not an RT Structure Set"), std::string::npos) << m;
  test::TempDir tmp;
  std::ofstream(tmp / "junk.dcm") << "junk";
  m = test::error_message([&] { io::rtstruct_rois(tmp / "junk.dcm"); });
  EXPECT_NE(m.find("not a readable DICOM file"), std::string::npos) << m;
  // Contours of another image: STS_002's cropped PET does not hold STS_001's slices.
  const io::DicomSeries other = io::pick_series(sts002() / "PET/image", std::nullopt, "PET");
  const Volume ov = io::read_series(other);
  m = test::error_message([&] { io::rasterise_rtstruct(sts001_rs(), "GTV_Mass", ov.geom, "", true); });
  EXPECT_FALSE(m.empty());
}

TEST(RtStruct, ConvertCarriesCtAndPetDelineationsOntoThePetGrid) {
  test::TempDir tmp;
  // The CT's structure set is rasterised on the CT grid and carried to the PET grid; the PET's on
  // the PET grid. The two delineations of one tumour agree broadly.
  auto r = run_fratmae("convert --pet " + quote(sts002() / "PET/image") + " --ct " + quote(sts002() / "CT/image") +
                       " --rtstruct " + quote(sts002() / "CT/mask/RS.dcm") + " --roi GTV_Mass_CT --out " + quote(tmp / "ct"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("convert --pet " + quote(sts002() / "PET/image") + " --rtstruct " + quote(sts002() / "PET/mask/RS.dcm") +
                  " --roi 1 --out " + quote(tmp / "pet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto sct = nlohmann::json::parse(read_file(tmp / "ct" / "study.json"));
  const auto spet = nlohmann::json::parse(read_file(tmp / "pet" / "study.json"));
  EXPECT_EQ(sct["seg"]["rasterised_on"], "CT grid, then nearest neighbour onto the PET grid");
  EXPECT_EQ(spet["seg"]["rasterised_on"], "PET grid");
  EXPECT_EQ(spet["seg"]["roi"]["name"], "GTV_Mass_PET");
  const Volume a = io::read_labels(tmp / "ct" / "SEG.nii.gz"), b = io::read_labels(tmp / "pet" / "SEG.nii.gz");
  const Volume suv = io::read_image(tmp / "pet" / "SUV.nii.gz");
  EXPECT_TRUE(a.geom == suv.geom);
  EXPECT_TRUE(b.geom == suv.geom);
  const double inter = (a.data.ne(0) & b.data.ne(0)).sum().item<double>();
  const double dice = 2 * inter / (a.data.ne(0).sum().item<double>() + b.data.ne(0).sum().item<double>());
  EXPECT_GT(dice, 0.6) << dice;

  // No --roi: refused, listing the ROIs; nothing written.
  r = run_fratmae("convert --pet " + quote(sts002() / "PET/image") + " --rtstruct " + quote(sts002() / "PET/mask/RS.dcm") +
                  " --out " + quote(tmp / "none"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("1 GTV_Mass_PET"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "none"));
}
