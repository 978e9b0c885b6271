// libFuzzer entry point: FRATMAE_FUZZ_TARGET names the target (fuzz_targets.h); scripts/fuzz.sh
// builds one binary per target.
#include <cstdlib>
#include <cstring>

#include <itkGDCMImageIOFactory.h>
#include <itkMetaImageIOFactory.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIOFactory.h>

#include "fuzz_targets.h"

#ifndef FRATMAE_FUZZ_TARGET
#error "define FRATMAE_FUZZ_TARGET to one of fuzz_targets.h's functions"
#endif

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // What the program's CMake build registers (ITK_IO_FACTORY_REGISTER_MANAGER): the readers of
  // the formats fratmae reads.
  itk::NiftiImageIOFactory::RegisterOneFactory();
  itk::NrrdImageIOFactory::RegisterOneFactory();
  itk::MetaImageIOFactory::RegisterOneFactory();
  itk::GDCMImageIOFactory::RegisterOneFactory();
  // A header declaring more than this is refused by fratmae's readers before they allocate
  // (core/memory_limit.h); libFuzzer's -malloc_limit_mb catches any reader that allocates first.
  ::setenv("FRATMAE_MEMORY_LIMIT_MB", "256", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fratmae::fuzz::FRATMAE_FUZZ_TARGET(data, size);
  return 0;
}
