#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>

#include "test_util.h"
#include "viz/mip.h"
#include "viz/png.h"
#include "core/error.h"

using namespace fratmae;

TEST(Mip, ShapesOrientationAndOutline) {
  // [H, W, D] = 4 x 10 x 20 with a hot voxel near the head on the patient's right.
  at::Tensor suv = torch::zeros({4, 10, 20});
  suv[2][1][3] = 10.0f;
  at::Tensor mask = torch::zeros({4, 10, 20}, torch::kByte);
  mask.slice(1, 0, 4).slice(2, 1, 6).fill_(1);
  const at::Tensor img = viz::render_mip(suv, torch::zeros({4, 10, 20}), mask, {2.0, 2.0});
  // Rows = D (20 voxels x 2 mm / 2 mm), columns = two panels of W plus an 8-pixel gap.
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{20, 28, 3}));
  // The hot voxel is black on the PET panel at row 3, column 1 (patient right = image left).
  EXPECT_EQ(img[3][1][1].item<uint8_t>(), 0);
  EXPECT_EQ(img[15][8][0].item<uint8_t>(), 255);  // background white
  // Red outline pixels exist.
  const at::Tensor red = (img.select(2, 0) == 220) & (img.select(2, 1) == 30);
  EXPECT_GT(red.sum().item<int64_t>(), 0);
}

TEST(Png, WritesAValidPngSignature) {
  test::TempDir tmp;
  const at::Tensor img = torch::full({5, 7, 3}, 128, torch::kByte);
  viz::write_png(tmp / "a.png", img);
  std::ifstream f(tmp / "a.png", std::ios::binary);
  char sig[8];
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  EXPECT_THROW(viz::write_png(tmp / "b.png", torch::zeros({5, 7})), Error);
}
