// Real DICOM series: geometry, per-slice rescale, SUV, CT/PET pairing and resampling.
#include <gtest/gtest.h>

#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <torch/torch.h>

#include <chrono>
#include <sstream>

#include "core/error.h"
#include "io/convert.h"
#include "io/dicom_series.h"
#include "io/image_io.h"
#include "io/resample.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {

fs::path sts001() { return test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/pet_dicom"; }
fs::path sts002_pet() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/PET/image"; }
fs::path sts002_ct() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/CT/image"; }
fs::path qin() { return test::shared_data_dir() / "mirp_qin_headneck_01_0139/pet_dicom"; }

std::string tag_text(const fs::path& file, uint16_t g, uint16_t e) {
  gdcm::Reader r;
  r.SetFileName(file.c_str());
  EXPECT_TRUE(r.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010)));
  const gdcm::DataSet& ds = r.GetFile().GetDataSet();
  if (!ds.FindDataElement(gdcm::Tag(g, e))) return "";
  const gdcm::ByteValue* bv = ds.GetDataElement(gdcm::Tag(g, e)).GetByteValue();
  return bv ? std::string(bv->GetPointer(), bv->GetLength()) : "";
}

std::array<double, 3> ipp(const fs::path& file) {
  std::stringstream s(tag_text(file, 0x0020, 0x0032));
  std::array<double, 3> p{};
  std::string item;
  for (int i = 0; i < 3 && std::getline(s, item, '\\'); ++i) p[i] = std::stod(item);
  return p;
}

// The affine of `g` reproduces ImagePositionPatient of the first and last slices.
void expect_geometry_matches_dicom(const Geometry& g, const io::DicomSeries& s, double tol) {
  const auto first = ipp(s.files.front()), last = ipp(s.files.back());
  const auto p0 = g.index_to_physical({0, 0, 0});
  const auto pn = g.index_to_physical({0, 0, double(g.size[2] - 1)});
  for (int r = 0; r < 3; ++r) {
    EXPECT_NEAR(p0[r], first[r], tol) << "first slice, axis " << r;
    EXPECT_NEAR(pn[r], last[r], tol) << "last slice, axis " << r;
  }
  const double dist = std::sqrt(std::pow(last[0] - first[0], 2) + std::pow(last[1] - first[1], 2) +
                                std::pow(last[2] - first[2], 2));
  EXPECT_NEAR(g.spacing[2], dist / double(g.size[2] - 1), tol);
}

// Whole-body PET conversion checks shared by STS_001 and QIN.
void check_whole_body_pet(const fs::path& dir, int64_t slices, double slice_spacing,
                          double pixel_spacing, int64_t matrix) {
  test::TempDir tmp;
  io::ConvertConfig cfg;
  cfg.pet_dicom = dir;
  cfg.out = tmp / "out";
  const auto t0 = std::chrono::steady_clock::now();
  const io::ConvertedStudy study = io::convert_study(cfg);
  io::write_study(study, cfg);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ timing ] convert " << dir << ": " << secs << " s\n";

  const io::DicomSeries s = io::pick_series(dir, std::nullopt, "PET");
  ASSERT_EQ(static_cast<int64_t>(s.files.size()), slices);
  const Geometry& g = study.suv.geom;
  EXPECT_EQ(g.size, (std::array<int64_t, 3>{matrix, matrix, slices}));
  EXPECT_NEAR(g.spacing[0], pixel_spacing, 1e-3);
  EXPECT_NEAR(g.spacing[2], slice_spacing, 1e-2);
  expect_geometry_matches_dicom(g, s, 1e-4);

  // The NIfTI on disk has the same affine (to NIfTI's float32 precision).
  const Volume nii = io::read_image(cfg.out / "SUV.nii.gz");
  EXPECT_TRUE(nii.geom.same_grid(g, 1e-3)) << nii.geom.to_string() << " vs " << g.to_string();
  expect_geometry_matches_dicom(nii.geom, s, 1e-3);
  EXPECT_TRUE(torch::equal(nii.data, study.suv.data));

  // Sane SUV: background near 0, body ~0.3-3, hottest voxel (bladder, brain, lesion) 3-100.
  const double mx = study.suv.data.max().item<double>(), mn = study.suv.data.min().item<double>();
  EXPECT_GT(mx, 3.0);
  EXPECT_LT(mx, 100.0);
  EXPECT_GT(mn, -0.5);
  const auto body = study.suv.data.masked_select(study.suv.data > 0.2);
  const double body_median = body.median().item<double>();
  EXPECT_GT(body_median, 0.3);
  EXPECT_LT(body_median, 3.0);
  EXPECT_TRUE(fs::exists(cfg.out / "study.json"));
  EXPECT_EQ(test::count_entries(cfg.out), 2u);
}

}  // namespace

TEST(DicomSeries, Sts001WholeBodyPetConvertsWithCorrectGeometry) {
  check_whole_body_pet(sts001(), 267, 3.27, 4.6875, 128);
}

TEST(DicomSeries, QinWholeBodyPetConvertsWithCorrectGeometry) {
  if (!fs::exists(qin()))
    GTEST_SKIP() << "the 545-slice QIN PET is not in the repository (33 MB); it is read from "
                 << qin() << ", which is absent here";
  check_whole_body_pet(qin(), 545, 2.027, 3.394, 168);
}

TEST(DicomSeries, PerSliceRescaleIsApplied) {
  // GE writes a different RescaleSlope on each slice of STS_001.
  const io::DicomSeries s = io::pick_series(sts001(), std::nullopt, "PET");
  const Volume v = io::read_series(s);
  std::set<std::string> slopes;
  for (int64_t k : {0L, 50L, 133L, 266L}) {
    const fs::path f = s.files[k];
    const std::string slope_text = tag_text(f, 0x0028, 0x1053);
    slopes.insert(slope_text);
    const double slope = std::stod(slope_text);
    const std::string icpt = tag_text(f, 0x0028, 0x1052);
    const double intercept = icpt.empty() ? 0.0 : std::stod(icpt);
    gdcm::ImageReader r;
    r.SetFileName(f.c_str());
    ASSERT_TRUE(r.Read());
    const gdcm::Image& img = r.GetImage();
    std::vector<char> buf(img.GetBufferLength());
    ASSERT_TRUE(img.GetBuffer(buf.data()));
    ASSERT_EQ(img.GetPixelFormat().GetBitsAllocated(), 16);
    const bool is_signed = img.GetPixelFormat().GetPixelRepresentation() == 1;
    const int64_t n = int64_t(img.GetDimension(0)) * img.GetDimension(1);
    std::vector<double> values(n);
    for (int64_t i = 0; i < n; ++i) {
      int16_t sv;
      uint16_t uv;
      std::memcpy(&sv, buf.data() + 2 * i, 2);
      std::memcpy(&uv, buf.data() + 2 * i, 2);
      values[i] = is_signed ? sv : uv;
    }
    const at::Tensor stored = torch::tensor(values, torch::kDouble);
    const at::Tensor expected = (stored * slope + intercept).reshape({v.geom.size[1], v.geom.size[0]});
    EXPECT_TRUE(torch::allclose(v.data[k].to(torch::kDouble), expected, 1e-5, 1e-3 * slope))
        << "slice " << k << " slope " << slope;
  }
  EXPECT_GT(slopes.size(), 1u) << "the test data should have several slopes";
}

TEST(DicomSeries, Sts002PairCtResLiesExactlyOnPetGrid) {
  test::TempDir tmp;
  io::ConvertConfig cfg;
  cfg.pet_dicom = sts002_pet();
  cfg.ct_dicom = sts002_ct();
  cfg.out = tmp / "out";
  const io::ConvertedStudy study = io::convert_study(cfg);
  io::write_study(study, cfg);
  ASSERT_TRUE(study.ct_res && study.ct);
  EXPECT_TRUE(study.ct_res->geom == study.suv.geom) << "CTres is on the PET grid, bit for bit";
  EXPECT_EQ(study.study["pet"]["units"], "GML");
  EXPECT_DOUBLE_EQ(study.study["pet"]["suv_factor"].get<double>(), 1.0);
  // Written files: the NIfTI CTres and SUV share one grid.
  const Volume suv = io::read_image(cfg.out / "SUV.nii.gz");
  const Volume ctres = io::read_image(cfg.out / "CTres.nii.gz");
  EXPECT_TRUE(ctres.geom == suv.geom);
  const Volume ct = io::read_image(cfg.out / "CT.nii.gz");
  EXPECT_TRUE(ct.geom.same_grid(study.ct->geom, 1e-3));
  // HU sanity: air/fat/soft tissue/bone inside the CT's crop.
  EXPECT_LT(ct.data.min().item<double>(), -500);
  EXPECT_GT(ct.data.max().item<double>(), 300);
  const double ctres_median = ctres.data.median().item<double>();
  EXPECT_GT(ctres_median, -200);
  EXPECT_LT(ctres_median, 200);
}

TEST(DicomSeries, PetToCtToPetKeepsTotalActivity) {
  const Volume pet = io::read_series(io::pick_series(sts002_pet(), std::nullopt, "PET"));
  const Volume ct = io::read_series(io::pick_series(sts002_ct(), std::nullopt, "CT"));
  const Volume pet_on_ct = io::resample(pet, ct.geom, io::Interpolation::kLinear, 0.0);
  const Volume back = io::resample(pet_on_ct, pet.geom, io::Interpolation::kLinear, 0.0);
  auto activity = [](const Volume& v, const at::Tensor& mask) {
    return (v.data.to(torch::kDouble) * mask).sum().item<double>() * v.geom.voxel_volume_mm3();
  };
  // The CT is cropped tighter than the PET: compare within the PET voxels whose centres lie
  // inside the CT's field of view.
  at::Tensor inside = torch::zeros_like(pet.data, torch::kDouble);
  auto in_acc = inside.accessor<double, 3>();
  for (int64_t k = 0; k < pet.geom.size[2]; ++k)
    for (int64_t j = 0; j < pet.geom.size[1]; ++j)
      for (int64_t i = 0; i < pet.geom.size[0]; ++i) {
        const auto c = ct.geom.physical_to_index(pet.geom.index_to_physical({double(i), double(j), double(k)}));
        bool in = true;
        for (int a = 0; a < 3; ++a) in &= c[a] >= 0 && c[a] <= ct.geom.size[a] - 1;
        if (in) in_acc[k][j][i] = 1.0;
      }
  const double pet_fov = activity(pet, inside);
  const double on_ct = activity(pet_on_ct, torch::ones_like(pet_on_ct.data, torch::kDouble));
  const double round_trip = activity(back, inside);
  std::cout << "[ values ] PET activity in the CT field of view " << pet_fov << " (whole PET "
            << activity(pet, torch::ones_like(inside)) << "), on the CT grid " << on_ct
            << ", back on the PET grid " << round_trip << "\n";
  EXPECT_GT(inside.sum().item<double>(), 0.5 * inside.numel());
  EXPECT_NEAR(round_trip / pet_fov, 1.0, 0.01);
  EXPECT_NEAR(on_ct / pet_fov, 1.0, 0.05);
}

TEST(DicomSeries, LabelsResampleByNearestNeighbour) {
  const Volume pet = io::read_series(io::pick_series(sts002_pet(), std::nullopt, "PET"));
  Volume labels{(pet.data > pet.data.mean()).to(torch::kByte), pet.geom};
  const Volume ct = io::read_series(io::pick_series(sts002_ct(), std::nullopt, "CT"));
  const Volume on_ct = io::resample_labels(labels, ct.geom);
  EXPECT_EQ(on_ct.data.scalar_type(), torch::kByte);
  const auto values = std::get<0>(torch::_unique(on_ct.data));
  EXPECT_LE(values.numel(), 2);
  EXPECT_TRUE(on_ct.geom == ct.geom);
}

TEST(DicomSeries, ScanSkipsNonImageObjectsAndOtherFiles) {
  // The STS_001 folder layout: image series in one folder, RTSTRUCT in another.
  const auto series = io::scan_dicom_folder(test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/rtstruct");
  ASSERT_EQ(series.size(), 1u);
  EXPECT_FALSE(series[0].has_pixels);
  EXPECT_EQ(series[0].modality, "RTSTRUCT");
  EXPECT_THROW(io::pick_series(test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/rtstruct",
                               std::nullopt, "PET"),
               FileError);
}
