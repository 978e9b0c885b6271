#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <streambuf>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/provenance.h"
#include "core/safetensors.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::train {

uint32_t file_crc32(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) throw FileError(file, "cannot open");
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = f.gcount();
    if (n > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

namespace {
std::map<std::string, at::Tensor> state_tensors(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> t;
  for (const auto& p : m.named_parameters()) t[p.key()] = p.value().detach();
  for (const auto& b : m.named_buffers()) t[b.key()] = b.value().detach();
  return t;
}
}  // namespace

namespace {
// A file's stream buffer that never reports a failed write to its stream but keeps the first
// errno, which close() returns once everything has been "written".
class RecordingFileBuf : public std::streambuf {
 public:
  explicit RecordingFileBuf(const fs::path& p) : fd_(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) {
    if (fd_ < 0) err_ = errno;
  }
  ~RecordingFileBuf() override {
    if (fd_ >= 0) ::close(fd_);
  }
  RecordingFileBuf(const RecordingFileBuf&) = delete;
  RecordingFileBuf& operator=(const RecordingFileBuf&) = delete;
  int close() {
    if (fd_ >= 0 && ::close(fd_) != 0 && err_ == 0) err_ = errno;
    fd_ = -1;
    return err_;
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::streamsize done = 0;
    while (err_ == 0 && fd_ >= 0 && done < n) {
      const ssize_t w = ::write(fd_, s + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        err_ = w < 0 ? errno : EIO;
        break;
      }
      done += w;
    }
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      const char ch = traits_type::to_char_type(c);
      xsputn(&ch, 1);
    }
    return traits_type::not_eof(c);
  }

 private:
  int fd_ = -1;
  int err_ = 0;
};
}  // namespace

fs::path save_checkpoint(const fs::path& run, torch::nn::Module& module, torch::optim::Optimizer& opt,
                         const CheckpointState& state) {
  char name[32];
  std::snprintf(name, sizeof(name), "step_%07lld", static_cast<long long>(state.step));
  const fs::path root = run / "checkpoints", final_dir = root / name,
                 tmp = root / (".tmp-" + std::to_string(::getpid()) + "-" + name);
  std::error_code ec;
  fs::create_directories(root, ec);
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw FileError(tmp, "cannot create checkpoint folder: " + ec.message());
  try {
    try {
      save_safetensors(tmp / "model.safetensors", state_tensors(module), {{"format", "fratmae"}, {"step", std::to_string(state.step)}});
    } catch (const FileError& e) {  // named as the checkpoint's file, not the temporary folder's
      const std::string m = e.what(), prefix = e.path().string() + ": ";
      throw FileError(final_dir / "model.safetensors", m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m);
    }
    {
      // Through a buffer that tells LibTorch's archive writer every write succeeded: that writer
      // aborts the process when a write fails (its destructor finishes the zip archive), so the
      // first failure (a full disk, a file-size limit) is kept and reported here instead.
      RecordingFileBuf buf(tmp / "optimizer.pt");
      std::ostream out(&buf);
      torch::save(opt, out);
      out.flush();
      if (const int err = buf.close()) throw FileError(final_dir / "optimizer.pt", write_failure(err));
    }
    json files;
    for (const char* f : {"model.safetensors", "optimizer.pt"})
      files[f] = {{"bytes", fs::file_size(tmp / f)}, {"crc32", file_crc32(tmp / f)}};
    const json st = {{"format_version", 1}, {"step", state.step}, {"model", state.model}, {"extra", state.extra}, {"files", files}};
    write_file_atomic(tmp / "state.json", st.dump(2) + "\n");
    fs::remove_all(final_dir, ec);
    fs::rename(tmp, final_dir, ec);
    if (ec) throw FileError(final_dir, "cannot move checkpoint into place: " + ec.message());
    write_file_atomic(root / "latest", std::string(name) + "\n");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return final_dir;
}

std::optional<fs::path> latest_checkpoint(const fs::path& run) {
  const fs::path p = run / "checkpoints" / "latest";
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  std::string name = read_file(p);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  if (name.empty() || name.find('/') != std::string::npos)
    throw FileError(p, "does not name a checkpoint; delete it or restore it");
  return run / "checkpoints" / name;
}

namespace {
json verified_state(const fs::path& dir) {
  const fs::path sj = dir / "state.json";
  std::error_code ec;
  if (!fs::exists(sj, ec)) throw FileError(dir, "not a complete checkpoint (no state.json)");
  json st;
  try {
    st = json::parse(read_file(sj));
  } catch (const json::exception& e) {
    throw FileError(sj, std::string("corrupt checkpoint state: ") + e.what());
  }
  try {  // a state.json of the wrong shape (a damaged file) is named as such, not a JSON type error
    if (!st.is_object() || st.value("format_version", 0) != 1) throw FileError(sj, "unknown checkpoint format version");
    for (const char* f : {"model.safetensors", "optimizer.pt"}) {
      const fs::path p = dir / f;
      if (!fs::exists(p, ec)) throw FileError(p, "missing from the checkpoint");
      const json& rec = st.at("files").at(f);
      const uint64_t bytes = rec.at("bytes").get<uint64_t>();
      if (fs::file_size(p) != bytes)
        throw FileError(p, "has " + std::to_string(fs::file_size(p)) + " bytes, the checkpoint recorded " +
                               std::to_string(bytes) + " (truncated or replaced)");
      if (file_crc32(p) != rec.at("crc32").get<uint32_t>()) throw FileError(p, "checksum mismatch: the file is corrupt");
    }
    (void)st.at("step").get<int64_t>();
    (void)st.at("model"), (void)st.at("extra");
  } catch (const json::exception& e) {
    throw FileError(sj, std::string("corrupt checkpoint state: ") + e.what());
  }
  return st;
}
}  // namespace

CheckpointState load_checkpoint(const fs::path& dir, torch::nn::Module& module, torch::optim::Optimizer& opt,
                                const json& expected_model) {
  const json st = verified_state(dir);
  if (st.at("model") != expected_model)
    throw FileError(dir, "was written for a different model configuration (" + st["model"].dump() +
                             "); resume with the run's own settings or start a new --out");
  SafetensorsFile weights = load_safetensors(dir / "model.safetensors");
  std::map<std::string, at::Tensor> dest;
  for (const auto& p : module.named_parameters()) dest[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) dest[b.key()] = b.value();
  load_into(dest, weights, (dir / "model.safetensors").string(), /*strict=*/true);
  try {
    torch::load(opt, (dir / "optimizer.pt").string());
  } catch (const c10::Error& e) {
    throw FileError(dir / "optimizer.pt", std::string("cannot load optimizer state: ") + e.what_without_backtrace());
  }
  CheckpointState s;
  s.step = st.at("step").get<int64_t>();
  s.model = st.at("model");
  s.extra = st.at("extra");
  return s;
}

std::map<std::string, at::Tensor> load_checkpoint_weights(const fs::path& dir) {
  verified_state(dir);
  return load_safetensors(dir / "model.safetensors").tensors;
}

json checkpoint_record(const fs::path& dir) {
  const json st = json::parse(read_file(dir / "state.json"), nullptr, false);
  std::error_code ec;
  const fs::path run = fs::absolute(dir, ec).lexically_normal().parent_path().parent_path();
  return {{"run", run.string()},
          {"checkpoint", dir.filename().string()},
          {"step", st.is_object() ? st.value("step", int64_t{-1}) : int64_t{-1}},
          {"weights_sha256", sha256_file(dir / "model.safetensors")}};
}

}  // namespace fratmae::train
