#include "io/resample.h"

#include <itkIdentityTransform.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

#include "core/error.h"
#include "io/itk_bridge.h"

namespace fratmae::io {

namespace {
template <typename T>
Volume resample_as(const Volume& moving, const Geometry& target, Interpolation interp,
                   double outside) {
  using Image = itk::Image<T, 3>;
  auto input = to_itk<T>(moving);
  auto filter = itk::ResampleImageFilter<Image, Image>::New();
  filter->SetInput(input);
  filter->SetTransform(itk::IdentityTransform<double, 3>::New());
  if (interp == Interpolation::kLinear)
    filter->SetInterpolator(itk::LinearInterpolateImageFunction<Image, double>::New());
  else
    filter->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<Image, double>::New());
  filter->SetDefaultPixelValue(static_cast<T>(outside));
  auto ref = Image::New();
  set_geometry(ref.GetPointer(), target);
  filter->SetOutputParametersFromImage(ref);
  try {
    filter->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(std::string("resampling failed: ") + e.GetDescription());
  }
  return to_volume<T>(filter->GetOutput());
}
}  // namespace

Volume resample(const Volume& moving, const Geometry& target, Interpolation interp,
                double outside) {
  moving.check("resample input");
  if (interp == Interpolation::kLinear) {
    Volume f{moving.data.to(at::kFloat), moving.geom};
    return resample_as<float>(f, target, interp, outside);
  }
  switch (moving.data.scalar_type()) {
    case at::kByte: return resample_as<uint8_t>(moving, target, interp, outside);
    case at::kShort: return resample_as<int16_t>(moving, target, interp, outside);
    case at::kInt: return resample_as<int32_t>(moving, target, interp, outside);
    default: {
      Volume f{moving.data.to(at::kFloat), moving.geom};
      return resample_as<float>(f, target, interp, outside);
    }
  }
}

}  // namespace fratmae::io
