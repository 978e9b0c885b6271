#include "io/image_io.h"

#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/memory_limit.h"
#include "io/itk_bridge.h"

namespace fs = std::filesystem;

namespace fratmae::io {

namespace {

// ITK 5.2's image I/O is not safe to use from several threads at once: two preprocessing workers
// reading NIfTI files freed the same std::string inside itk::NiftiImageIO::ReadImageInformation
// (AddressSanitizer: double-free, 2026-12-07; ITK creates a NiftiImageIO to probe every file, and
// niftilib keeps process-wide state). Every ITK read and write in fratmae holds this lock; the
// voxels' own work (resampling, normalising, fratmae's NaN scan) stays parallel.
std::mutex& itk_io_mutex() {
  static std::mutex m;
  return m;
}
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Make the first line of an ITK exception readable: drop ITK's file/line preamble.
std::string itk_reason(const itk::ExceptionObject& e) {
  std::string d = e.GetDescription();
  while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
  return d;
}

template <typename T>
T field(const unsigned char* hdr, size_t offset, bool swap) {
  T v;
  std::memcpy(&v, hdr + offset, sizeof(T));
  if (swap) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    std::reverse(b, b + sizeof(T));
    std::memcpy(&v, b, sizeof(T));
  }
  return v;
}

// ITK's NIfTI reader (niftilib) fills a file that was cut short with zeros, and silently
// replaces NaN and infinite float voxels by 0. So we stream the voxel bytes ourselves first:
// a short file is an error, and the flat indices (ITK buffer order) of non-finite voxels are
// returned so the reader can restore them. gzread reads plain .nii files transparently.
std::vector<int64_t> scan_nifti(const fs::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw FileError(path, "cannot open for reading");
  auto fail = [&](const std::string& why) {
    gzclose(f);
    throw FileError(path, why);
  };
  unsigned char hdr[540] = {};
  if (gzread(f, hdr, 348) < 348) fail("truncated NIfTI file (header incomplete)");
  int32_t sizeof_hdr = field<int32_t>(hdr, 0, false);
  bool swap = false;
  if (sizeof_hdr != 348 && sizeof_hdr != 540) {
    swap = true;
    sizeof_hdr = field<int32_t>(hdr, 0, true);
  }
  int64_t vox_offset = 0, voxels = 1, bitpix = 0, datatype = 0;
  // Sizes and offsets are taken as doubles first: a damaged header's product of seven
  // dimensions, or its float offset, need not fit an int64 (found by fuzzing).
  double declared_voxels = 1, declared_offset = 0;
  if (sizeof_hdr == 348) {
    const int16_t ndim = field<int16_t>(hdr, 40, swap);
    if (ndim < 1 || ndim > 7) fail("invalid NIfTI header (dim[0] = " + std::to_string(ndim) + ")");
    for (int d = 1; d <= ndim; ++d)
      declared_voxels *= std::max<int16_t>(1, field<int16_t>(hdr, 40 + 2 * d, swap));
    datatype = field<int16_t>(hdr, 70, swap);
    bitpix = field<int16_t>(hdr, 72, swap);
    declared_offset = field<float>(hdr, 108, swap);
  } else if (sizeof_hdr == 540) {
    if (gzread(f, hdr + 348, 540 - 348) < 540 - 348) fail("truncated NIfTI-2 header");
    const int64_t ndim = field<int64_t>(hdr, 16, swap);
    if (ndim < 1 || ndim > 7) fail("invalid NIfTI-2 header");
    for (int d = 1; d <= ndim; ++d)
      declared_voxels *= static_cast<double>(std::max<int64_t>(1, field<int64_t>(hdr, 16 + 8 * d, swap)));
    datatype = field<int16_t>(hdr, 12, swap);
    bitpix = field<int16_t>(hdr, 14, swap);
    declared_offset = static_cast<double>(field<int64_t>(hdr, 168, swap));
  } else {
    fail("not a NIfTI file (bad header size)");
  }
  if (declared_voxels > 1e15) fail("invalid NIfTI header (its dimensions multiply to more than 10^15 voxels)");
  if (!(declared_offset < 1e15)) fail("invalid NIfTI header (vox_offset is not a byte offset)");
  voxels = static_cast<int64_t>(declared_voxels);
  vox_offset = std::max<int64_t>(static_cast<int64_t>(std::max(0.0, declared_offset)), sizeof_hdr);
  const int64_t elem = bitpix / 8;
  if (elem <= 0) fail("invalid NIfTI header (bitpix " + std::to_string(bitpix) + ")");
  const int64_t expected = vox_offset + voxels * elem;
  // Skip header extensions up to the voxel data.
  std::vector<unsigned char> buf(size_t(1) << 20);
  int64_t pos = sizeof_hdr;
  while (pos < vox_offset) {
    const int r = gzread(f, buf.data(), static_cast<unsigned>(std::min<int64_t>(vox_offset - pos, buf.size())));
    if (r <= 0) break;
    pos += r;
  }
  const bool is_f32 = datatype == 16, is_f64 = datatype == 64;
  std::vector<int64_t> non_finite;
  int64_t index = 0;  // voxel index of buf[0]
  size_t carry = 0;   // bytes of a split element kept at the front of buf
  while (pos < expected) {
    const int r = gzread(f, buf.data() + carry, static_cast<unsigned>(buf.size() - carry));
    if (r < 0) fail("corrupt compressed data");
    if (r == 0) break;
    pos += r;
    const size_t have = carry + static_cast<size_t>(r);
    const size_t whole = have / elem;
    if (is_f32 || is_f64) {
      for (size_t e = 0; e < whole && index + int64_t(e) < voxels; ++e) {
        const double v = is_f32 ? field<float>(buf.data(), e * 4, swap) : field<double>(buf.data(), e * 8, swap);
        if (!std::isfinite(v)) non_finite.push_back(index + int64_t(e));
      }
    }
    index += static_cast<int64_t>(whole);
    carry = have - whole * elem;
    std::memmove(buf.data(), buf.data() + whole * elem, carry);
  }
  int err = Z_OK;
  gzerror(f, &err);
  gzclose(f);
  if (pos < expected)
    throw FileError(path, "truncated file: " + std::to_string(pos) + " of " +
                              std::to_string(expected) + " bytes present");
  if (err != Z_OK && err != Z_STREAM_END) throw FileError(path, "corrupt compressed data");
  return non_finite;
}

// ITK's MetaImage and NRRD readers fill voxel data that a file does not hold with zeros (MetaImage
// prints "data not read completely" and carries on). For uncompressed raw data, in the file or in
// one detached data file, check its length against the header's claim (`bytes`) instead.
// Compressed, text-encoded and multi-file data are left to ITK.
void check_raw_data_length(const fs::path& path, uint64_t bytes) {
  std::ifstream f(path, std::ios::binary);
  std::string head(65536, '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(f.gcount()));
  auto trim = [](std::string v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.erase(v.begin());
    return v;
  };
  fs::path data;            // where the voxels are: `path` itself when attached
  uint64_t header_end = 0;  // offset of the voxels in `data`
  const std::string name = lower(path.filename().string());
  if (ends_with(name, ".mha") || ends_with(name, ".mhd")) {
    // "Key = Value" lines; ElementDataFile is the last one.
    size_t pos = 0;
    bool found = false;
    while (pos < head.size()) {
      const size_t nl = head.find('\n', pos);
      if (nl == std::string::npos) return;
      const std::string line = head.substr(pos, nl - pos);
      pos = nl + 1;
      const size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = lower(trim(line.substr(0, eq))), value = trim(line.substr(eq + 1));
      if ((key == "compresseddata" && lower(value) == "true") || key == "headersize" ||
          (key == "binarydata" && lower(value) == "false"))
        return;
      if (key == "elementdatafile") {
        if (lower(value) == "local") {
          data = path, header_end = pos;
        } else if (value.find_first_of("% ") != std::string::npos || lower(value) == "list") {
          return;  // a list or pattern of slice files
        } else {
          data = path.parent_path() / value;
        }
        found = true;
        break;
      }
    }
    if (!found) return;
  } else if (ends_with(name, ".nrrd") || ends_with(name, ".nhdr")) {
    // "key: value" lines up to an empty line, after which attached data starts.
    size_t pos = 0;
    bool raw = false, ended = false;
    while (pos < head.size()) {
      const size_t nl = head.find('\n', pos);
      if (nl == std::string::npos) return;
      std::string line = head.substr(pos, nl - pos);
      pos = nl + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) {
        ended = true;
        break;
      }
      if (line[0] == '#') continue;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string key = lower(trim(line.substr(0, colon)));
      std::string value = trim(line.substr(colon + 1));
      if (!value.empty() && value[0] == '=') value = trim(value.substr(1));  // "key:=value"
      if (key == "encoding") raw = lower(value) == "raw";
      if (key == "line skip" || key == "lineskip" || key == "byte skip" || key == "byteskip") return;
      if (key == "data file" || key == "datafile") {
        if (value.find_first_of("% ") != std::string::npos || lower(value).rfind("list", 0) == 0) return;
        data = path.parent_path() / value;
      }
    }
    if (!raw) return;
    if (data.empty()) {
      if (!ended) return;
      data = path, header_end = pos;
    }
  } else {
    return;
  }
  std::error_code ec;
  const uint64_t size = fs::file_size(data, ec);
  if (ec) throw FileError(data, "the voxel data file that " + path.filename().string() + " names is missing");
  if (size < header_end + bytes)
    throw FileError(data, "truncated file: the header declares " + std::to_string(bytes) + " bytes of voxel data, " +
                              std::to_string(size > header_end ? size - header_end : 0) + " are present");
}

template <typename T>
Volume read_as(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw FileError(path, "no such file");
  if (fs::is_directory(path, ec))
    throw FileError(path, "is a folder; give an image file (.nii.gz, .nrrd, .mha)");
  std::unique_lock<std::mutex> itk_lock(itk_io_mutex());
  itk::ImageIOBase::Pointer io = itk::ImageIOFactory::CreateImageIO(
      path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
  const std::string lname = lower(path.filename().string());
  const bool nifti = ends_with(lname, ".nii") || ends_with(lname, ".nii.gz");
  if (!io) {
    // A NIfTI file ITK cannot open is most often cut short or damaged: say which.
    if (nifti) scan_nifti(path);
    throw FileError(path, "not a readable image (supported: .nii, .nii.gz, .nrrd, .nhdr, .mha, "
                          ".mhd; DICOM series are read from a folder)");
  }
  try {
    io->SetFileName(path.string());
    io->ReadImageInformation();
    (void)io->GetComponentSize();  // throws for a component type the header does not name
  } catch (const itk::ExceptionObject& e) {
    throw FileError(path, "cannot read the image header: " + itk_reason(e));
  }
  const unsigned ndim = io->GetNumberOfDimensions();
  if (ndim < 3) throw FileError(path, "is a " + std::to_string(ndim) + "D image; a 3D volume is needed");
  for (unsigned d = 3; d < ndim; ++d)
    if (io->GetDimensions(d) > 1)
      throw FileError(path, "is a " + std::to_string(ndim) +
                                "D image with several volumes; give a single 3D volume");
  if (io->GetNumberOfComponents() != 1)
    throw FileError(path, "has " + std::to_string(io->GetNumberOfComponents()) +
                              " components per voxel; a scalar image is needed");
  // A header that declares more voxels than this process could hold is refused before ITK
  // allocates them (as the file type and as T, which the voxels are converted to).
  double voxels = 1;
  std::string dims;
  for (unsigned d = 0; d < 3; ++d) {
    voxels *= static_cast<double>(io->GetDimensions(d));
    dims += (d ? " x " : "") + std::to_string(io->GetDimensions(d));
  }
  check_fits_in_memory(path, voxels * static_cast<double>(io->GetComponentSize() + sizeof(T)), dims + " voxels");
  itk_lock.unlock();
  if (!nifti) check_raw_data_length(path, static_cast<uint64_t>(io->GetImageSizeInBytes()));
  const std::vector<int64_t> non_finite = nifti ? scan_nifti(path) : std::vector<int64_t>{};
  itk_lock.lock();
  using Image = itk::Image<T, 3>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetFileName(path.string());
  reader->SetImageIO(io);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw FileError(path, "cannot read the voxel data (truncated or corrupt file?): " + itk_reason(e));
  }
  Volume v = to_volume<T>(reader->GetOutput());  // the lock is released after reader and io are gone
  v.geom.validate(path.string());
  if (!non_finite.empty()) {  // put back what niftilib zeroed
    if (!v.data.is_floating_point())
      throw FileError(path, std::to_string(non_finite.size()) + " voxels are NaN or infinite");
    at::Tensor flat = v.data.view({-1});
    at::Tensor idx = at::tensor(non_finite, at::kLong);
    flat.index_fill_(0, idx.clamp_max(flat.numel() - 1), std::numeric_limits<double>::quiet_NaN());
  }
  return v;
}
}  // namespace

bool is_image_file(const fs::path& path) {
  const std::string n = lower(path.filename().string());
  for (const char* ext : {".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"})
    if (ends_with(n, ext)) return true;
  return false;
}

Volume read_image(const fs::path& path) { return read_as<float>(path); }

Volume read_labels(const fs::path& path) {
  Volume f = read_as<float>(path);
  at::Tensor d = f.data;
  if (count_non_finite(f) > 0) throw FileError(path, "label map has NaN or infinite voxels");
  const bool integral = at::equal(d, d.round());
  const double lo = d.min().item<double>(), hi = d.max().item<double>();
  if (!integral || lo < 0 || hi > 255)
    throw FileError(path, "is not a label map: values must be integers 0..255 (found range " +
                              std::to_string(lo) + " .. " + std::to_string(hi) + ")");
  f.data = d.to(at::kByte);
  return f;
}

namespace {
// NIfTI-1's `descrip`: 80 bytes at offset 148 of the 348-byte header (NUL-terminated, so 79
// characters). The file (gzip or not; gzopen reads both) is read whole, patched and rewritten.
void set_nifti_description(const fs::path& path, const std::string& text) {
  std::string bytes;
  {
    gzFile in = gzopen(path.c_str(), "rb");
    if (!in) throw FileError(path, "cannot reopen to set its description");
    char buf[1 << 16];
    int n;
    while ((n = gzread(in, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
    gzclose(in);
    if (n < 0) throw FileError(path, "cannot read back to set its description");
  }
  int32_t header_size = 0;
  if (bytes.size() >= 348) std::memcpy(&header_size, bytes.data(), 4);
  if (header_size != 348) throw FileError(path, "is not a NIfTI-1 file (header size " + std::to_string(header_size) + ")");
  std::memset(&bytes[148], 0, 80);
  std::memcpy(&bytes[148], text.data(), std::min<size_t>(text.size(), 79));
  const bool gz = path.extension() == ".gz";
  gzFile out = gzopen(path.c_str(), gz ? "wb6" : "wbT");  // T: plain, no gzip wrapper
  if (!out || gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size())) != static_cast<int>(bytes.size())) {
    if (out) gzclose(out);
    throw FileError(path, "cannot write (disk full or no permission?)");
  }
  if (gzclose(out) != Z_OK) throw FileError(path, "cannot write (disk full or no permission?)");
}
}  // namespace

std::string nifti_gz_bytes(const Volume& v) {
  static std::atomic<int> counter{0};
  const fs::path tmp = fs::temp_directory_path() /
                       ("fratmae-nifti-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".nii.gz");
  struct Remove {
    fs::path p;
    ~Remove() {
      std::error_code ec;
      fs::remove(p, ec);
    }
  } remove{tmp};
  write_image(v, tmp);
  return read_file(tmp);
}

void write_image(const Volume& v, const fs::path& path, const std::string& description) {
  v.check(path.string());
  if (!is_image_file(path))
    throw FileError(path, "unknown image format; use .nii.gz, .nii, .nrrd or .mha");
  try {
    auto write = [&](auto img) {
      using ImageType = typename decltype(img)::ObjectType;
      std::lock_guard<std::mutex> itk_lock(itk_io_mutex());  // held until the writer is gone
      auto writer = itk::ImageFileWriter<ImageType>::New();
      // NRRD and MetaImage keep the dictionary's entries; ITK's NIfTI writer does not write
      // `descrip` (set below).
      if (!description.empty())
        itk::EncapsulateMetaData<std::string>(img->GetMetaDataDictionary(), "ITK_FileNotes", description);
      writer->SetFileName(path.string());
      writer->SetInput(img);
      writer->SetUseCompression(true);
      writer->Update();
    };
    switch (v.data.scalar_type()) {
      case at::kFloat: write(to_itk<float>(v)); break;
      case at::kDouble: write(to_itk<double>(v)); break;
      case at::kShort: write(to_itk<int16_t>(v)); break;
      case at::kInt: write(to_itk<int32_t>(v)); break;
      case at::kByte: write(to_itk<uint8_t>(v)); break;
      case at::kBool: write(to_itk<uint8_t>(Volume{v.data.to(at::kByte), v.geom})); break;
      default:
        throw FileError(path, std::string("cannot write voxels of type ") +
                                  c10::toString(v.data.scalar_type()));
    }
  } catch (const itk::ExceptionObject& e) {
    throw FileError(path, "cannot write image: " + itk_reason(e));
  }
  const std::string name = path.filename().string();
  const bool nifti = name.size() > 4 && (name.substr(name.size() - 4) == ".nii" ||
                                         (name.size() > 7 && name.substr(name.size() - 7) == ".nii.gz"));
  if (nifti && !description.empty()) set_nifti_description(path, description);
}

int64_t count_non_finite(const Volume& v) {
  if (!v.data.is_floating_point()) return 0;
  return (~at::isfinite(v.data)).sum().item<int64_t>();
}

void require_finite(const Volume& v, const fs::path& path) {
  const int64_t n = count_non_finite(v);
  if (n > 0)
    throw FileError(path, std::to_string(n) + " voxels are NaN or infinite; fix or mask them "
                                              "before use");
}

}  // namespace fratmae::io
