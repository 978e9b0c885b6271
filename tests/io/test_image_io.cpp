#include <gtest/gtest.h>

#include <torch/torch.h>

#include <array>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "io/image_io.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {

// A geometry whose numbers are exactly representable in NIfTI's float32 header fields, with
// a permuted, flipped direction (not the identity) so that axis handling is exercised.
Volume sample_volume(at::ScalarType dtype = at::kFloat) {
  Volume v;
  v.geom.size = {7, 5, 4};
  v.geom.spacing = {0.75, 1.25, 3.0};
  v.geom.origin = {-120.5, 33.25, -812.0};
  v.geom.direction = {0, 0, 1, -1, 0, 0, 0, -1, 0};
  torch::manual_seed(3);
  v.data = (torch::randn({4, 5, 7}) * 100).to(dtype);
  return v;
}

void expect_error_contains(const std::function<void()>& f, const std::string& a,
                           const std::string& b = "") {
  try {
    f();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(a), std::string::npos) << m;
    if (!b.empty()) {
      EXPECT_NE(m.find(b), std::string::npos) << m;
    }
  }
}

}  // namespace

TEST(ImageIo, NiftiRoundTripIsBitExact) {
  test::TempDir tmp;
  for (const char* name : {"v.nii.gz", "v.nii"}) {
    const Volume v = sample_volume();
    io::write_image(v, tmp / name);
    const Volume r = io::read_image(tmp / name);
    EXPECT_TRUE(torch::equal(r.data, v.data)) << name;
    EXPECT_EQ(r.geom.size, v.geom.size);
    EXPECT_EQ(r.geom.spacing, v.geom.spacing) << name;
    EXPECT_EQ(r.geom.origin, v.geom.origin) << name;
    EXPECT_EQ(r.geom.direction, v.geom.direction) << name;
  }
}

TEST(ImageIo, NrrdAndMhaRoundTrip) {
  test::TempDir tmp;
  for (const char* name : {"v.nrrd", "v.mha"}) {
    const Volume v = sample_volume();
    io::write_image(v, tmp / name);
    const Volume r = io::read_image(tmp / name);
    EXPECT_TRUE(torch::equal(r.data, v.data)) << name;
    EXPECT_TRUE(r.geom == v.geom) << name << ": " << r.geom.to_string();
  }
}

TEST(ImageIo, IntegerTypesAndLabels) {
  test::TempDir tmp;
  Volume v = sample_volume(at::kShort);
  io::write_image(v, tmp / "ct.nii.gz");
  EXPECT_TRUE(torch::equal(io::read_image(tmp / "ct.nii.gz").data, v.data.to(at::kFloat)));
  Volume labels = sample_volume();
  labels.data = (labels.data.abs().remainder(3)).floor().to(at::kByte);
  io::write_image(labels, tmp / "seg.nii.gz");
  const Volume l = io::read_labels(tmp / "seg.nii.gz");
  EXPECT_EQ(l.data.scalar_type(), at::kByte);
  EXPECT_TRUE(torch::equal(l.data, labels.data));
  // A float image is not a label map.
  io::write_image(sample_volume(), tmp / "float.nii.gz");
  expect_error_contains([&] { io::read_labels(tmp / "float.nii.gz"); }, "float.nii.gz",
                        "not a label map");
}

TEST(ImageIo, MissingFileIsNamed) {
  expect_error_contains([] { io::read_image("/no/such/pet.nii.gz"); }, "/no/such/pet.nii.gz",
                        "no such file");
}

TEST(ImageIo, FolderInsteadOfFile) {
  test::TempDir tmp;
  expect_error_contains([&] { io::read_image(tmp.path()); }, tmp.path().string(), "folder");
}

TEST(ImageIo, TruncatedFileIsRejected) {
  test::TempDir tmp;
  io::write_image(sample_volume(), tmp / "v.nii");
  const auto size = fs::file_size(tmp / "v.nii");
  fs::resize_file(tmp / "v.nii", size - 40);
  expect_error_contains([&] { io::read_image(tmp / "v.nii"); }, "v.nii");
  // A .nii.gz cut in the middle of its compressed stream.
  io::write_image(sample_volume(), tmp / "w.nii.gz");
  fs::resize_file(tmp / "w.nii.gz", fs::file_size(tmp / "w.nii.gz") / 2);
  expect_error_contains([&] { io::read_image(tmp / "w.nii.gz"); }, "w.nii.gz", "truncated");
  // Cut inside the header, and damaged in the middle: said so, not only "not a readable image".
  io::write_image(sample_volume(), tmp / "x.nii.gz");
  fs::resize_file(tmp / "x.nii.gz", 30);
  expect_error_contains([&] { io::read_image(tmp / "x.nii.gz"); }, "x.nii.gz", "truncated");
  io::write_image(sample_volume(), tmp / "y.nii.gz");
  {
    std::fstream f(tmp / "y.nii.gz", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(tmp / "y.nii.gz") / 2));
    const std::string junk(64, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  try {
    io::read_image(tmp / "y.nii.gz");
    ADD_FAILURE() << "a damaged .nii.gz was read";
  } catch (const FileError& e) {
    const std::string m = e.what();
    EXPECT_TRUE(m.find("corrupt") != std::string::npos || m.find("truncated") != std::string::npos) << m;
  }
}

// ITK fills the voxels an uncompressed MetaImage or NRRD does not hold with zeros; fratmae
// refuses such a file (attached or detached data), and reads the complete ones.
TEST(ImageIo, TruncatedRawMetaImageAndNrrdAreRejected) {
  test::TempDir tmp;
  const std::string mha = "ObjectType = Image\nNDims = 3\nDimSize = 4 3 2\nElementType = MET_FLOAT\nElementDataFile = ";
  const std::string nrrd = "NRRD0004\ntype: float\ndimension: 3\nsizes: 4 3 2\nencoding: raw\nendian: little\n";
  const std::string voxels(24 * 4, '\0'), cut = voxels.substr(0, 50);
  auto put = [&](const char* name, const std::string& bytes) {
    std::ofstream(tmp / name, std::ios::binary) << bytes;
  };
  put("full.mha", mha + "LOCAL\n" + voxels);
  put("full.nrrd", nrrd + "\n" + voxels);
  put("d.mhd", mha + "d.raw\n");
  put("d.raw", voxels);
  put("e.nhdr", nrrd + "data file: e.raw\n");
  put("e.raw", voxels);
  for (const char* f : {"full.mha", "full.nrrd", "d.mhd", "e.nhdr"}) {
    SCOPED_TRACE(f);
    EXPECT_EQ(io::read_image(tmp / f).data.numel(), 24);
  }
  put("cut.mha", mha + "LOCAL\n" + cut);
  put("cut.nrrd", nrrd + "\n" + cut);
  put("d.raw", cut);
  put("e.raw", cut);
  const std::string said = "truncated file: the header declares 96 bytes of voxel data, 50 are present";
  expect_error_contains([&] { io::read_image(tmp / "cut.mha"); }, "cut.mha", said);
  expect_error_contains([&] { io::read_image(tmp / "cut.nrrd"); }, "cut.nrrd", said);
  expect_error_contains([&] { io::read_image(tmp / "d.mhd"); }, "d.raw", said);
  expect_error_contains([&] { io::read_image(tmp / "e.nhdr"); }, "e.raw", said);
  fs::remove(tmp / "d.raw");
  expect_error_contains([&] { io::read_image(tmp / "d.mhd"); }, "d.raw", "missing");
}

TEST(ImageIo, GarbageFileIsRejected) {
  test::TempDir tmp;
  std::ofstream(tmp / "junk.nii.gz") << "this is not an image";
  expect_error_contains([&] { io::read_image(tmp / "junk.nii.gz"); }, "junk.nii.gz");
  std::ofstream(tmp / "notes.txt") << "hello";
  expect_error_contains([&] { io::read_image(tmp / "notes.txt"); }, "notes.txt", "not a readable image");
}

TEST(ImageIo, NonFiniteVoxelsAreCounted) {
  Volume v = sample_volume();
  v.data[1][2][3] = std::numeric_limits<float>::quiet_NaN();
  v.data[0][0][0] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(io::count_non_finite(v), 2);
  expect_error_contains([&] { io::require_finite(v, "pet.nii.gz"); }, "pet.nii.gz", "2 voxels");
}

TEST(ImageIo, UnknownOutputFormatIsRejected) {
  test::TempDir tmp;
  expect_error_contains([&] { io::write_image(sample_volume(), tmp / "v.png"); }, "v.png",
                        "unknown image format");
}

namespace {
// Headers of three formats that declare `size` float voxels and hold a few bytes.
void write_hostile_headers(const fs::path& dir, const std::array<int64_t, 3>& size) {
  const std::string dims = std::to_string(size[0]) + " " + std::to_string(size[1]) + " " + std::to_string(size[2]);
  std::ofstream(dir / "huge.mha") << "ObjectType = Image\nNDims = 3\nDimSize = " << dims
                                  << "\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n0123456789abcdef";
  std::ofstream(dir / "huge.nrrd") << "NRRD0004\ntype: float\ndimension: 3\nsizes: " << dims
                                   << "\nencoding: raw\nendian: little\n\n0123456789abcdef";
  unsigned char hdr[352] = {};
  auto put = [&](size_t at, auto v) { std::memcpy(hdr + at, &v, sizeof v); };
  put(0, int32_t{348});
  put(40, int16_t{3});
  for (int d = 0; d < 3; ++d) put(42 + 2 * d, static_cast<int16_t>(size[d]));
  put(70, int16_t{16});   // float32
  put(72, int16_t{32});
  for (int d = 0; d < 4; ++d) put(76 + 4 * d, 1.0f);
  put(108, 352.0f);       // vox_offset
  std::memcpy(hdr + 344, "n+1", 4);
  std::ofstream(dir / "huge.nii", std::ios::binary).write(reinterpret_cast<const char*>(hdr), sizeof hdr);
}
}  // namespace

// A header that declares more voxels than the process could hold (a damaged or hostile file)
// is refused before anything is allocated, naming the file and the declared size.
TEST(ImageIo, HeadersDeclaringMoreVoxelsThanMemoryAreRefused) {
  test::TempDir tmp;
  write_hostile_headers(tmp.path(), {30000, 30000, 30000});  // 2.7e13 voxels, 216 TB as float + float
  for (const char* f : {"huge.mha", "huge.nrrd", "huge.nii"}) {
    SCOPED_TRACE(f);
    expect_error_contains([&] { io::read_image(tmp / f); }, "declares 30000 x 30000 x 30000 voxels",
                          "more than this process may hold");
    expect_error_contains([&] { io::read_image(tmp / f); }, f);
  }
}
