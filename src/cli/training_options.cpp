#include "cli/training_options.h"

#include <csignal>

#include "train/pretrainer.h"

namespace fratmae::cli {

namespace {
extern "C" void on_stop_signal(int sig) { train::stop_request().store(sig); }
}  // namespace

void install_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

}  // namespace fratmae::cli
