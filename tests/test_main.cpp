#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const int rc = RUN_ALL_TESTS();
  // As the program does (src/cli/main.cpp): end without the libraries' exit-time destructors,
  // one of which (ITK 5.2's singletons with its thread pool alive) was seen to spin forever.
  spdlog::shutdown();
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}
