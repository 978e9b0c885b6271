// Conversions between fratmae::Volume and itk::Image (io/ only).
#pragma once

#include <itkImage.h>

#include <algorithm>

#include "core/volume.h"

namespace fratmae::io {

template <typename TImage>
Geometry geometry_of(const TImage* img) {
  Geometry g;
  const auto region = img->GetLargestPossibleRegion();
  for (int a = 0; a < 3; ++a) {
    g.size[a] = static_cast<int64_t>(region.GetSize()[a]);
    g.spacing[a] = img->GetSpacing()[a];
    g.origin[a] = img->GetOrigin()[a];
    for (int r = 0; r < 3; ++r) g.direction[r * 3 + a] = img->GetDirection()[r][a];
  }
  return g;
}

template <typename TImage>
void set_geometry(TImage* img, const Geometry& g) {
  typename TImage::SpacingType spacing;
  typename TImage::PointType origin;
  typename TImage::DirectionType direction;
  typename TImage::RegionType region;
  typename TImage::SizeType size;
  for (int a = 0; a < 3; ++a) {
    spacing[a] = g.spacing[a];
    origin[a] = g.origin[a];
    size[a] = static_cast<itk::SizeValueType>(g.size[a]);
    for (int r = 0; r < 3; ++r) direction[r][a] = g.dir(r, a);
  }
  region.SetSize(size);
  img->SetRegions(region);
  img->SetSpacing(spacing);
  img->SetOrigin(origin);
  img->SetDirection(direction);
}

/// Copy an ITK image into a Volume of scalar type T (the tensor dtype matching T).
template <typename T>
Volume to_volume(const itk::Image<T, 3>* img) {
  Volume v;
  v.geom = geometry_of(img);
  v.data = at::empty({v.geom.size[2], v.geom.size[1], v.geom.size[0]},
                     at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
  std::copy_n(img->GetBufferPointer(), v.geom.num_voxels(), v.data.data_ptr<T>());
  return v;
}

/// Copy a Volume into a new ITK image of scalar type T (voxels cast to T).
template <typename T>
typename itk::Image<T, 3>::Pointer to_itk(const Volume& v) {
  v.check("to_itk");
  auto img = itk::Image<T, 3>::New();
  set_geometry(img.GetPointer(), v.geom);
  img->Allocate();
  at::Tensor src = v.data.to(c10::CppTypeToScalarType<T>::value).contiguous();
  std::copy_n(src.data_ptr<T>(), v.geom.num_voxels(), img->GetBufferPointer());
  return img;
}

}  // namespace fratmae::io
