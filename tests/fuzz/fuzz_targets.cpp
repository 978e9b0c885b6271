#include "fuzz_targets.h"

#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/training_options.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "data/cache.h"
#include "data/csv_table.h"
#include "data/metadata.h"
#include "io/autopet_layout.h"
#include "io/dicom_seg.h"
#include "io/dicom_series.h"
#include "io/image_io.h"
#include "io/rtstruct.h"
#include "io/suv.h"
#include "text/clip_tokenizer.h"
#include "train/checkpoint.h"
#include "train/pretrain_config.h"

namespace fs = std::filesystem;

namespace fratmae::fuzz {

namespace {
std::string bytes(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

// A private folder for targets that read from disk, made once per process.
const fs::path& scratch() {
  static const fs::path dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "fratmae-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw Error("fuzz: cannot make a scratch folder");
    return fs::path(tmpl);
  }();
  return dir;
}
}  // namespace

void csv_metadata(const uint8_t* data, size_t size) {
  try {
    const data::CsvTable t = data::parse_csv(bytes(data, size), "fuzz.csv");
    for (const auto& row : t.rows)
      if (row.size() != t.header.size()) __builtin_trap();  // rows are padded to the header
    if (io::metadata_form(t) == io::MetadataForm::kFratmae) {
      for (const auto& [id, m] : data::read_metadata_table(t)) (void)data::make_prompt(m);
    } else {
      for (const auto& [key, m] : io::read_autopet_metadata(t)) (void)data::make_prompt(m);
    }
  } catch (const Error&) {
  }
  try {
    (void)io::autopet_study_key(bytes(data, size));
  } catch (const Error&) {
  }
}

void clip_tokenizer(const uint8_t* data, size_t size) {
  static const auto tok = std::make_unique<text::ClipTokenizer>();
  try {
    const std::string text = bytes(data, size);
    const std::vector<int64_t> ids = tok->encode(text);
    for (int64_t id : ids)
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    (void)tok->decode(ids);
    if (tok->tokenize_padded(text).size() != static_cast<size_t>(text::ClipTokenizer::kContextLength))
      __builtin_trap();
  } catch (const Error&) {
  }
}

void safetensors(const uint8_t* data, size_t size) {
  try {
    const SafetensorsFile f = parse_safetensors(bytes(data, size), "fuzz.safetensors");
    for (const auto& [name, t] : f.tensors)
      if (!t.is_contiguous()) __builtin_trap();
  } catch (const Error&) {
  }
}

void nnunet_dataset_json(const uint8_t* data, size_t size) {
  const fs::path d = scratch() / "nnunet";
  static const bool made = [&] {
    fs::create_directories(d / "imagesTr");
    fs::create_directories(d / "labelsTr");
    for (const char* f : {"imagesTr/fdg_0a_s t_0000.nii.gz", "imagesTr/fdg_0a_s t_0001.nii.gz",
                          "imagesTr/psma_0b_2020-01-01_0000.nrrd", "imagesTr/psma_0b_2020-01-01_0001.nrrd",
                          "labelsTr/fdg_0a_s t.nii.gz"})
      write_file_atomic(d / f, "x");
    return true;
  }();
  (void)made;
  write_file_atomic(d / "dataset.json", bytes(data, size));
  try {
    for (const io::NnUnetCase& c : io::discover_nnunet(d))
      if (c.ct.empty() || c.pet.empty() || c.ct == c.pet) __builtin_trap();
  } catch (const Error&) {
  }
}

void cache_index(const uint8_t* data, size_t size) {
  // A cache folder with one case file of 4,096 zero bytes; the input is its index.json.
  const fs::path d = scratch() / "cache";
  static const bool made = [&] {
    fs::create_directories(d / "cases");
    write_file_atomic(d / "cases" / "A.bin", std::string(4096, '\0'));
    return true;
  }();
  (void)made;
  write_file_atomic(d / "index.json", bytes(data, size));
  try {
    const auto cache = data::Cache::open(d);
    for (int64_t i = 0; i < cache->size(); ++i) {
      const data::CachedCase& c = cache->at(i);
      // Every byte of every array is read (a view past the mapping faults here).
      for (const at::Tensor* t : {&c.wb_ct, &c.wb_pet, &c.wb_seg, &c.nat_ct, &c.nat_pet, &c.nat_seg, &c.lesion_voxels})
        if (t->defined()) (void)t->to(at::kDouble).sum().item<double>();
    }
    if (cache->size() > 0) (void)cache->text_ids().max().item<int64_t>();
  } catch (const Error&) {
  }
}

void checkpoint_state(const uint8_t* data, size_t size) {
  // A checkpoint folder with a one-tensor model.safetensors and an 8-byte optimizer.pt; the input
  // is its state.json (sizes and CRC-32s of both files: the seed has the right ones).
  const fs::path d = scratch() / "checkpoint";
  static const bool made = [&] {
    fs::create_directories(d);
    save_safetensors(d / "model.safetensors", {{"w", at::arange(4, at::kFloat)}}, {});
    write_file_atomic(d / "optimizer.pt", "fratmae!");
    return true;
  }();
  (void)made;
  write_file_atomic(d / "state.json", bytes(data, size));
  try {
    const auto w = train::load_checkpoint_weights(d);
    if (w.size() != 1 || w.at("w").numel() != 4) __builtin_trap();
  } catch (const Error&) {
  }
  (void)train::checkpoint_record(d);  // never throws for a readable folder
}

void config_toml(const uint8_t* data, size_t size) {
  // The program's own shape: global options, --config on the top level, a subcommand with the
  // training options (every kind CLI11 converts: strings, integers, reals, booleans, a list).
  const fs::path file = scratch() / "config.toml";
  write_file_atomic(file, bytes(data, size));
  CLI::App app{"fuzz"};
  app.set_config("--config", "", "TOML");
  app.allow_config_extras(false);
  app.fallthrough();
  bool verbose = false;
  int threads = 0;
  app.add_flag("-v,--verbose", verbose, "more log output");
  app.add_option("--threads", threads, "threads")->check(CLI::NonNegativeNumber);
  train::PretrainConfig c;
  std::vector<int64_t> input;
  CLI::App* sub = app.add_subcommand("pretrain", "pre-train");
  sub->add_option("--cache", c.cache, "cache");
  sub->add_option("--preset", c.preset, "preset");
  sub->add_option("--method", c.method, "method")->check(CLI::IsMember({"fratmae", "fratmae-noalign", "mae", "mae-align"}));
  sub->add_option("--steps", c.steps, "steps");
  sub->add_option("--batch", c.batch, "batch");
  sub->add_option("--input", input, "H W D")->expected(3);
  cli::add_training_options(sub, c, "lr");
  const std::string path = file.string();
  const char* argv[] = {"fuzz", "--config", path.c_str(), "pretrain"};
  try {
    app.parse(4, const_cast<char**>(argv));
  } catch (const CLI::Error&) {
  }
}

void image_file(const uint8_t* data, size_t size) {
  // The name's extension says which ITK reader runs; it follows the bytes' magic as a user's
  // file would: gzip -> .nii.gz, "NRRD" -> .nrrd, a MetaImage key -> .mha, else .nii.
  const std::string b = bytes(data, size);
  const char* ext = ".nii";
  if (b.size() >= 2 && uint8_t(b[0]) == 0x1f && uint8_t(b[1]) == 0x8b) ext = ".nii.gz";
  else if (b.rfind("NRRD", 0) == 0) ext = ".nrrd";
  else if (b.rfind("ObjectType", 0) == 0 || b.rfind("NDims", 0) == 0) ext = ".mha";
  const fs::path file = scratch() / (std::string("image") + ext);
  write_file_atomic(file, b);
  try {
    const Volume v = io::read_image(file);
    if (v.data.numel() != v.geom.num_voxels()) __builtin_trap();
    const Volume l = io::read_labels(file);
    if (!l.geom.same_grid(v.geom)) __builtin_trap();
  } catch (const Error&) {
  }
  fs::remove(file);
}

void dicom_file(const uint8_t* data, size_t size) {
  // A folder holding the input alone, read as `convert` reads a series folder; an RTSTRUCT or a
  // SEG as the label readers read them (a SEG onto a small grid: its frames need not match).
  const fs::path d = scratch() / "dicom";
  fs::create_directories(d);
  const fs::path file = d / "in.dcm";
  write_file_atomic(file, bytes(data, size));
  try {
    for (const io::DicomSeries& s : io::scan_dicom_folder(d)) {
      if (s.modality == "RTSTRUCT") {
        (void)io::describe_rois(io::rtstruct_rois(file));
      } else if (s.modality == "SEG") {
        Geometry g;
        g.size = {8, 8, 4};
        g.spacing = {4, 4, 4};
        (void)io::read_dicom_seg(file, g, "", {}, true);
      } else if (s.has_pixels) {
        const Volume v = io::read_series(s);
        if (v.data.numel() != v.geom.num_voxels()) __builtin_trap();
        (void)io::read_series_info(s);
        if (s.modality == "PT") {
          try {
            (void)compute_suv(io::read_pet_header(s));
          } catch (const Error&) {
          }
        }
      }
    }
  } catch (const Error&) {
  }
}

const std::vector<NamedTarget>& targets() {
  static const std::vector<NamedTarget> t{{"csv_metadata", csv_metadata},
                                          {"clip_tokenizer", clip_tokenizer},
                                          {"safetensors", safetensors},
                                          {"nnunet_dataset_json", nnunet_dataset_json},
                                          {"cache_index", cache_index},
                                          {"checkpoint_state", checkpoint_state},
                                          {"config_toml", config_toml},
                                          {"image_file", image_file},
                                          {"dicom_file", dicom_file}};
  return t;
}

}  // namespace fratmae::fuzz
