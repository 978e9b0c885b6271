#include "core/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace fratmae {

Progress::Progress(std::string what, int64_t total, std::string unit)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total),
      tty_(::isatty(STDERR_FILENO) == 1 && spdlog::get_level() <= spdlog::level::info),
      start_(std::chrono::steady_clock::now()), last_print_(start_) {}

Progress::~Progress() { finish(); }

std::string Progress::format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  return buf;
}

void Progress::advance(int64_t n, const std::string& note) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += n;
  if (!note.empty()) note_ = note;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if ((tty_ && since > 0.2) || since > 10.0) {
    last_print_ = now;
    print(false);
  }
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  print(true);
}

void Progress::print(bool final_line) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1;
  char counts[160];
  std::snprintf(counts, sizeof(counts), "%lld/%lld %s, %.2f %s/s", static_cast<long long>(done_),
                static_cast<long long>(total_), unit_.c_str(), rate, unit_.c_str());
  std::string line = what_ + ": " + counts + (note_.empty() ? "" : ", " + note_);
  line += final_line ? ", took " + format_duration(elapsed) : ", ETA " + format_duration(eta);
  if (tty_) {
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : 0;
    std::string bar(filled, '=');
    bar += std::string(width - filled, ' ');
    std::fprintf(stderr, "\r\033[K[%s] %s%s", bar.c_str(), line.c_str(), final_line ? "\n" : "");
    std::fflush(stderr);
  } else {
    spdlog::info("{}", line);
  }
}

}  // namespace fratmae
