#include "core/safetensors.h"

#include <c10/core/GradMode.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "core/atomic_output.h"
#include "core/error.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp assumes a little-endian host (safetensors stores little-endian bytes)"
#endif

namespace fs = std::filesystem;

namespace fratmae {

namespace {

constexpr uint64_t kMaxHeaderSize = 100'000'000;  // the reference library's limit

[[noreturn]] void fail(const std::string& what, const std::string& problem) {
  throw FileError(what, problem);
}

// The supported dtypes, in the reference library's order (its Dtype enum): the writer sorts
// by descending rank so wider elements come first and every tensor is naturally aligned.
struct DtypeInfo {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeInfo kDtypes[] = {
    {"BOOL", at::kBool}, {"U8", at::kByte},      {"I8", at::kChar},    {"I16", at::kShort},
    {"F16", at::kHalf},  {"BF16", at::kBFloat16}, {"I32", at::kInt},    {"F32", at::kFloat},
    {"F64", at::kDouble}, {"I64", at::kLong}};
// Valid in safetensors but absent from (or unsupported with) LibTorch 1.13.
const std::set<std::string> kOtherDtypes = {"U16", "U32", "U64", "C64", "F4", "F6_E2M3",
                                             "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                                             "F8_E4M3FNUZ", "F8_E5M2FNUZ"};

int dtype_rank(at::ScalarType t) {
  for (int i = 0; i < static_cast<int>(std::size(kDtypes)); ++i)
    if (kDtypes[i].type == t) return i;
  return -1;
}

std::string shape_string(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string in_quotes(const std::string& name) { return "\"" + name + "\""; }

uint64_t read_u64_le(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// ---------------------------------------------------------------------------------------
// Reading

struct Entry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset
  std::map<std::string, std::string> metadata;
};

// Validate the 8-byte size N against the file size; returns N.
uint64_t check_header_size(uint64_t n, uint64_t file_size, const std::string& what) {
  if (n > kMaxHeaderSize)
    fail(what, "header size " + std::to_string(n) + " exceeds the 100 MB limit (not a " +
                   "safetensors file, or corrupt)");
  if (n > file_size - 8)
    fail(what, "header size " + std::to_string(n) + " is larger than the rest of the file (" +
                   std::to_string(file_size - 8) + " bytes; truncated or not a safetensors file)");
  return n;
}

uint64_t get_unsigned(const nlohmann::json& v, const std::string& what, const std::string& ctx) {
  if (!v.is_number_unsigned()) fail(what, ctx + " must be a non-negative integer, not " + v.dump());
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& name, const nlohmann::json& info, uint64_t buffer_size,
                  const std::string& what) {
  const std::string t = "tensor " + in_quotes(name);
  if (!info.is_object()) fail(what, t + ": expected an object, found " + info.dump());
  for (const auto& item : info.items())
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
      fail(what, t + ": unknown field " + in_quotes(item.key()));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) fail(what, t + ": missing field \"" + key + "\"");

  Entry e;
  e.name = name;
  const nlohmann::json& dt = info["dtype"];
  if (!dt.is_string()) fail(what, t + ": dtype must be a string, not " + dt.dump());
  const std::string dname = dt.get<std::string>();
  int rank = -1;
  for (int i = 0; i < static_cast<int>(std::size(kDtypes)); ++i)
    if (dname == kDtypes[i].name) rank = i;
  if (rank < 0) {
    if (kOtherDtypes.count(dname))
      fail(what, t + ": dtype " + dname + " is valid safetensors but not supported by fratmae");
    fail(what, t + ": unknown dtype " + in_quotes(dname));
  }
  e.dtype = kDtypes[rank].type;

  const nlohmann::json& shape = info["shape"];
  if (!shape.is_array()) fail(what, t + ": shape must be an array, not " + shape.dump());
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : shape) {
    const uint64_t n = get_unsigned(d, what, t + ": each dimension");
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(what, t + ": dimension " + std::to_string(n) + " is too large");
    e.shape.push_back(static_cast<int64_t>(n));
    overflow = overflow || __builtin_mul_overflow(numel, n, &numel);
  }
  const uint64_t elem = at::elementSize(e.dtype);
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, elem, &nbytes);

  const nlohmann::json& off = info["data_offsets"];
  if (!off.is_array() || off.size() != 2)
    fail(what, t + ": data_offsets must be [begin, end], not " + off.dump());
  e.begin = get_unsigned(off[0], what, t + ": data_offsets");
  e.end = get_unsigned(off[1], what, t + ": data_offsets");
  const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.end < e.begin) fail(what, t + ": data_offsets " + range + " end before they begin");
  if (e.end > buffer_size)
    fail(what, t + ": data_offsets " + range + " are out of range: the data buffer has only " +
                   std::to_string(buffer_size) + " bytes (is the file truncated?)");
  if (overflow || nbytes != e.end - e.begin)
    fail(what, t + ": shape " + shape_string(e.shape) + " of " + dname + " needs " +
                   (overflow ? std::string("more than 2^64") : std::to_string(nbytes)) +
                   " bytes but data_offsets " + range + " span " +
                   std::to_string(e.end - e.begin));
  return e;
}

// Parse and validate the JSON header; `buffer_size` is the size of the data buffer after it.
Header parse_header(const std::string& text, uint64_t buffer_size, const std::string& what) {
  // The callback records repeated keys, which nlohmann::json would silently merge.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool duplicate_is_tensor = false;
  auto on_event = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) {
      open_objects.emplace_back();
    } else if (ev == E::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (ev == E::key && duplicate.empty() && !open_objects.empty()) {
      const std::string k = parsed.get<std::string>();
      if (!open_objects.back().insert(k).second) {
        duplicate = k;
        duplicate_is_tensor = open_objects.size() == 1;
      }
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, on_event);
  } catch (const nlohmann::json::exception& ex) {
    fail(what, std::string("the header is not valid JSON: ") + ex.what());
  }
  if (!duplicate.empty())
    fail(what, duplicate_is_tensor ? "tensor name " + in_quotes(duplicate) + " appears twice"
                                   : "key " + in_quotes(duplicate) + " appears twice in one object");
  if (!j.is_object()) fail(what, "the header is not a JSON object");

  Header h;
  for (const auto& item : j.items()) {
    if (item.key() == "__metadata__") {
      if (!item.value().is_object()) fail(what, "__metadata__ must be an object of strings");
      for (const auto& m : item.value().items()) {
        if (!m.value().is_string())
          fail(what, "__metadata__ value of " + in_quotes(m.key()) + " must be a string, not " +
                         m.value().dump());
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(item.key(), item.value(), buffer_size, what));
  }

  std::sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin < covered)
      fail(what, "tensors " + in_quotes(prev->name) + " and " + in_quotes(e.name) +
                     " overlap in the data buffer (bytes " + std::to_string(e.begin) + " to " +
                     std::to_string(covered) + ")");
    if (e.begin > covered)
      fail(what, "bytes " + std::to_string(covered) + " to " + std::to_string(e.begin) +
                     " of the data buffer belong to no tensor (data_offsets not contiguous)");
    covered = e.end;
    prev = &e;
  }
  if (covered != buffer_size)
    fail(what, "the data buffer has " + std::to_string(buffer_size) + " bytes but the tensors " +
                   "cover only " + std::to_string(covered) + " (trailing bytes)");
  return h;
}

at::Tensor empty_tensor(const Entry& e) {
  return at::empty(e.shape, at::TensorOptions().dtype(e.dtype).device(at::kCPU));
}

void check_bool(const at::Tensor& t, const std::string& name, const std::string& what) {
  if (t.scalar_type() != at::kBool) return;
  const auto* p = static_cast<const uint8_t*>(t.data_ptr());
  for (int64_t i = 0; i < t.numel(); ++i)
    if (p[i] > 1)
      fail(what, "tensor " + in_quotes(name) + ": BOOL byte " + std::to_string(i) + " is " +
                     std::to_string(p[i]) + " (must be 0 or 1)");
}

// ---------------------------------------------------------------------------------------
// Writing

struct Prepared {
  std::string header;  // 8-byte size + padded JSON
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // in data-buffer order
};

Prepared prepare(const std::map<std::string, at::Tensor>& tensors,
                 const std::map<std::string, std::string>& metadata) {
  Prepared p;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw Error("safetensors: \"__metadata__\" is not a tensor name");
    if (!t.defined()) throw Error("safetensors: tensor " + in_quotes(name) + " is undefined");
    if (t.layout() != at::kStrided)
      throw Error("safetensors: tensor " + in_quotes(name) + " is not a dense tensor");
    if (dtype_rank(t.scalar_type()) < 0)
      throw Error("safetensors: tensor " + in_quotes(name) + " has dtype " +
                  std::string(c10::toString(t.scalar_type())) + ", which cannot be saved");
    p.tensors.emplace_back(name, t.detach().to(at::kCPU).contiguous());
  }
  std::stable_sort(p.tensors.begin(), p.tensors.end(), [](const auto& a, const auto& b) {
    const int ra = dtype_rank(a.second.scalar_type()), rb = dtype_rank(b.second.scalar_type());
    return ra != rb ? ra > rb : a.first < b.first;
  });

  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;  // std::map: sorted keys
    j["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : p.tensors) {
    const uint64_t n = t.nbytes();
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = safetensors_dtype_name(t.scalar_type());
    info["shape"] = t.sizes().vec();
    info["data_offsets"] = {offset, offset + n};
    j[name] = std::move(info);
    offset += n;
  }
  std::string text;
  try {
    text = j.dump();  // compact: no spaces or newlines
  } catch (const nlohmann::json::exception& ex) {
    throw Error(std::string("safetensors: a tensor name or metadata string is not valid UTF-8 (") +
                ex.what() + ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  p.header.assign(reinterpret_cast<const char*>(&n), 8);
  p.header += text;
  return p;
}

}  // namespace

std::string safetensors_dtype_name(at::ScalarType dtype) {
  const int r = dtype_rank(dtype);
  return r >= 0 ? kDtypes[r].name : std::string(c10::toString(dtype));
}

std::string serialize_safetensors(const std::map<std::string, at::Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  const Prepared p = prepare(tensors, metadata);
  size_t total = p.header.size();
  for (const auto& nt : p.tensors) total += nt.second.nbytes();
  std::string out;
  out.reserve(total);
  out += p.header;
  for (const auto& nt : p.tensors)
    out.append(static_cast<const char*>(nt.second.data_ptr()), nt.second.nbytes());
  return out;
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 8)
    fail(what, "too short to be a safetensors file (" + std::to_string(bytes.size()) +
                   " bytes; the 8-byte header size is incomplete)");
  const uint64_t n = check_header_size(read_u64_le(bytes.data()), bytes.size(), what);
  const uint64_t start = 8 + n;
  const Header h = parse_header(bytes.substr(8, n), bytes.size() - start, what);
  SafetensorsFile f;
  f.metadata = h.metadata;
  for (const Entry& e : h.entries) {
    at::Tensor t = empty_tensor(e);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), bytes.data() + start + e.begin, e.end - e.begin);
    check_bool(t, e.name, what);
    f.tensors.emplace(e.name, std::move(t));
  }
  return f;
}

SafetensorsFile load_safetensors(const fs::path& path) {
  const std::string what = path.string();
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (!in || ec) fail(what, "cannot open for reading (missing or no permission)");
  if (size < 8)
    fail(what, "too short to be a safetensors file (" + std::to_string(size) +
                   " bytes; the 8-byte header size is incomplete)");
  char prefix[8];
  in.read(prefix, 8);
  const uint64_t n = check_header_size(read_u64_le(prefix), size, what);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) fail(what, "cannot read the header (file changed while reading?)");
  const uint64_t start = 8 + n;
  const Header h = parse_header(text, size - start, what);
  SafetensorsFile f;
  f.metadata = h.metadata;
  for (const Entry& e : h.entries) {
    at::Tensor t = empty_tensor(e);
    if (e.end > e.begin) {
      in.seekg(static_cast<std::streamoff>(start + e.begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
      if (!in) fail(what, "cannot read tensor " + in_quotes(e.name) + " (file changed while reading?)");
    }
    check_bool(t, e.name, what);
    f.tensors.emplace(e.name, std::move(t));
  }
  return f;
}

void save_safetensors(const fs::path& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const Prepared p = prepare(tensors, metadata);
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const fs::path tmp =
      parent / (".fratmae-tmp-" + std::to_string(::getpid()) + "-" + path.filename().string());
  std::error_code ec;
  {
    errno = 0;
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(p.header.data(), static_cast<std::streamsize>(p.header.size()));
    for (const auto& nt : p.tensors)
      out.write(static_cast<const char*>(nt.second.data_ptr()),
                static_cast<std::streamsize>(nt.second.nbytes()));
    out.close();
    if (!out) {
      const int err = errno;
      fs::remove(tmp, ec);
      throw FileError(path, write_failure(err));
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    const std::string msg = ec.message();
    fs::remove(tmp, ec);
    throw FileError(path, "cannot move into place: " + msg);
  }
}

void load_into(const std::map<std::string, at::Tensor>& dest, const SafetensorsFile& src,
               const std::string& what, bool strict) {
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [name, d] : dest)
    if (!src.tensors.count(name)) missing.push_back(name);
  for (const auto& [name, s] : src.tensors) {
    const auto it = dest.find(name);
    if (it == dest.end()) {
      if (strict) unexpected.push_back(name);
      continue;
    }
    const at::Tensor& d = it->second;
    if (!d.defined()) {
      mismatched.push_back(name + ": the model's tensor is undefined");
    } else if (s.sizes() != d.sizes()) {
      mismatched.push_back(name + ": file has shape " + shape_string(s.sizes()) +
                           ", model expects " + shape_string(d.sizes()));
    } else if (s.scalar_type() != d.scalar_type()) {
      mismatched.push_back(name + ": file has dtype " + safetensors_dtype_name(s.scalar_type()) +
                           ", model expects " + safetensors_dtype_name(d.scalar_type()));
    }
  }
  if (missing.empty() && unexpected.empty() && mismatched.empty()) {
    c10::AutoGradMode no_grad(false);
    for (const auto& [name, s] : src.tensors) {
      const auto it = dest.find(name);
      if (it != dest.end()) it->second.copy_(s);
    }
    return;
  }
  constexpr size_t kMaxListed = 20;
  auto list = [&](const std::vector<std::string>& names, const std::string& sep) {
    std::string s;
    for (size_t i = 0; i < names.size() && i < kMaxListed; ++i) s += (i ? sep : "") + names[i];
    if (names.size() > kMaxListed) s += sep + "... and " + std::to_string(names.size() - kMaxListed) + " more";
    return s;
  };
  std::string msg = "the weights do not fit the model:";
  if (!missing.empty())
    msg += "\n  missing from the file (" + std::to_string(missing.size()) + "): " + list(missing, ", ");
  if (!unexpected.empty())
    msg += "\n  unexpected in the file (" + std::to_string(unexpected.size()) +
           "): " + list(unexpected, ", ");
  if (!mismatched.empty()) msg += "\n  " + list(mismatched, "\n  ");
  fail(what, msg);
}

}  // namespace fratmae
