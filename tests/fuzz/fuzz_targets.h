// Fuzz targets: one function per parser that reads files from strangers. Each takes any bytes
// and must either parse them or throw fratmae::Error (a clear message); a crash, a hang, a
// leak or an unbounded allocation is a bug. The same functions serve libFuzzer (fuzz_main.cpp,
// built by scripts/fuzz.sh with clang) and the normal test suite, which replays the seed corpus
// and every input a fuzzer once broke (test_fuzz_corpus.cpp, corpus/<target>/). The image and
// DICOM targets need ITK's readers registered (the test suite's build does it; fuzz_main.cpp
// registers them for scripts/fuzz.sh) and are fuzzed under FRATMAE_MEMORY_LIMIT_MB=256, so that
// a header declaring more is refused by fratmae before a reader allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fratmae::fuzz {

using Target = void (*)(const uint8_t* data, size_t size);

struct NamedTarget {
  const char* name;
  Target run;
};

void csv_metadata(const uint8_t* data, size_t size);  // CSV table, fratmae / AutoPET metadata
void clip_tokenizer(const uint8_t* data, size_t size);  // tokenizer input text
void safetensors(const uint8_t* data, size_t size);   // a safetensors file's bytes
void nnunet_dataset_json(const uint8_t* data, size_t size);  // AutoPET III's dataset.json
void cache_index(const uint8_t* data, size_t size);  // a cache's index.json over one case file
void checkpoint_state(const uint8_t* data, size_t size);  // a checkpoint's state.json
void config_toml(const uint8_t* data, size_t size);  // a --config TOML file (CLI11's reader)
void image_file(const uint8_t* data, size_t size);   // NIfTI (.nii, .nii.gz), NRRD or MHA through ITK
void dicom_file(const uint8_t* data, size_t size);   // one DICOM file: series, PET SUV, RTSTRUCT, SEG

const std::vector<NamedTarget>& targets();

}  // namespace fratmae::fuzz
