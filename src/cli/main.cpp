// fratmae: the command-line program. `fratmae --help` lists the subcommands.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/parse_errors.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "core/provenance.h"
#include "core/gemm.h"
#include "core/threads.h"
#include "core/torch_compat.h"
#include "fratmae/version.h"

int main(int argc, char** argv) {
  CLI::App app{"fratmae: PET/CT foundation model (FratMAE) - conversion, pre-training, "
               "fine-tuning and inference"};
  app.set_version_flag("--version", std::string("fratmae ") + FRATMAE_VERSION + " (LibTorch " +
                                        fratmae::compat::torch_version() + ")");
  app.require_subcommand(1);
  app.set_config("--config", "", "read option values from a TOML file (flags given on the "
                                 "command line win)");
  app.allow_config_extras(false);
  // Global options may also follow the command (`fratmae phantom ... -v`): every subcommand
  // passes the options it does not know on to this one.
  app.fallthrough();
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "more log output");
  app.add_flag("-q,--quiet", quiet, "only warnings and errors");
  int threads = 0;
  app.add_option("--threads", threads, "threads for tensor operations (0: every core this process may use)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  fratmae::cli::add_tokenize(app);
  fratmae::cli::add_model(app);
  fratmae::cli::add_pretrain(app);
  fratmae::cli::add_export(app);
  fratmae::cli::add_finetune(app);
  fratmae::cli::add_experiment(app);
#ifdef FRATMAE_WITH_ITK
  fratmae::cli::add_convert(app);
  fratmae::cli::add_info(app);
  fratmae::cli::add_phantom(app);
  fratmae::cli::add_preprocess(app);
  fratmae::cli::add_predict(app);
  fratmae::cli::add_evaluate(app);
#else
  fratmae::cli::add_unavailable(app, "convert", "convert DICOM/NIfTI PET/CT to SUV and CTres");
  fratmae::cli::add_unavailable(app, "info", "show an image's size, geometry and values");
  fratmae::cli::add_unavailable(app, "phantom", "write a phantom PET/CT cohort as NIfTI");
  fratmae::cli::add_unavailable(app, "preprocess", "preprocess an AutoPET-style dataset into a training cache");
  fratmae::cli::add_unavailable(app, "predict", "run a fine-tuned model on a PET/CT study");
  fratmae::cli::add_unavailable(app, "evaluate", "score predicted lesion masks against the truth");
#endif

  auto logger = spdlog::stderr_color_mt("fratmae");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^[%H:%M:%S %l]%$ %v");
  app.parse_complete_callback([&] {
    spdlog::set_level(quiet ? spdlog::level::warn
                            : verbose ? spdlog::level::debug : spdlog::level::info);
    fratmae::configure_cpu(threads);
  });

  // Ctrl-C or a kill during any command leaves no hidden temporary files behind.
  fratmae::remove_staged_files_on_signal();
  // Past a file-size limit (ulimit -f) a write fails with EFBIG, reported like a full disk,
  // instead of the signal ending the process mid-write.
  ::signal(SIGXFSZ, SIG_IGN);
  fratmae::set_command_line(argc, argv);
  int rc = 0;
  try {
    // Fast CPU matrix products where LibTorch's BLAS is the generic one (core/gemm.h);
    // FRATMAE_GEMM=libtorch in the environment keeps LibTorch's own.
    fratmae::gemm::set_backend("auto");
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    rc = fratmae::cli::report_parse_error(app, e, argc, argv);
  } catch (const fratmae::Error& e) {
    std::cerr << "fratmae: error: " << e.what() << "\n";
    rc = 1;
  } catch (const c10::Error& e) {
    std::cerr << "fratmae: error: " << e.what_without_backtrace() << "\n";
    rc = 1;
  } catch (const std::exception& e) {
    std::cerr << "fratmae: error: " << e.what() << "\n";
    rc = 1;
  }
  // Every output is written and closed by now. End without running the libraries' exit-time
  // destructors: ITK 5.2's (its thread pool's workers still wait while ~SingletonIndex runs)
  // once spun forever after a finished `fratmae phantom` under ctest (stack in issue #16's note).
  spdlog::shutdown();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}
