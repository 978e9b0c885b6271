// Progress with ETA for long work. On a terminal: one line redrawn in place; otherwise (logs,
// CI) a plain line at most every 10 seconds and at the end. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace fratmae {

class Progress {
 public:
  Progress(std::string what, int64_t total, std::string unit = "items");
  ~Progress();
  /// Mark `n` more items done; `note` (e.g. a loss) is shown after the counts.
  void advance(int64_t n = 1, const std::string& note = "");
  /// Final line (called by the destructor if not called before).
  void finish();

  /// "1:02:03" / "4:05" for a duration in seconds.
  static std::string format_duration(double seconds);

 private:
  void print(bool final_line);
  std::mutex mutex_;
  std::string what_, unit_, note_;
  int64_t total_, done_ = 0;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace fratmae
