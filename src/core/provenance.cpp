#include "core/provenance.h"

#include <ctime>
#include <fstream>
#include <vector>

#ifdef FRATMAE_WITH_OPENSSL
#include <openssl/evp.h>
#endif

#include "core/error.h"
#include "core/torch_compat.h"
#include "fratmae/version.h"

namespace fratmae {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
std::string& command_line() {
  static std::string s;
  return s;
}

// A word as a POSIX shell reads it back: bare when it is safe, else in single quotes.
std::string shell_word(const std::string& w) {
  if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") ==
                        std::string::npos)
    return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

std::string sha256_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw FileError(file, "cannot open for reading (missing or no permission)");
#ifdef FRATMAE_WITH_OPENSSL
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) {
    EVP_MD_CTX_free(ctx);
    throw FileError(file, "read error while hashing");
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < n; ++i) s += hex[md[i] >> 4], s += hex[md[i] & 15];
  return s;
#else
  return "";
#endif
}

void set_command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + shell_word(argv[i]);
  command_line() = s;
}

json provenance() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {{"fratmae_version", FRATMAE_VERSION},
          {"libtorch_version", compat::torch_version()},
          {"created", stamp},
          {"command", command_line()}};
}

json input_record(const fs::path& input) {
  std::error_code ec;
  json j = {{"path", fs::absolute(input, ec).lexically_normal().string()}};
  if (fs::is_directory(input, ec)) {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(input, ec)) ++n;
    j["files"] = n;
  } else if (fs::is_regular_file(input, ec)) {
    j["bytes"] = fs::file_size(input, ec);
    j["sha256"] = sha256_file(input);
  }
  return j;
}

}  // namespace fratmae
