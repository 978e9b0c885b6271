// libFuzzer entry point: FRATMAE_FUZZ_TARGET names the target (fuzz_targets.h); scripts/fuzz.sh
// builds one binary per target.
#include <cstdlib>
#include <cstring>

#include "fuzz_targets.h"

#ifndef FRATMAE_FUZZ_TARGET
#error "define FRATMAE_FUZZ_TARGET to one of fuzz_targets.h's functions"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fratmae::fuzz::FRATMAE_FUZZ_TARGET(data, size);
  return 0;
}
