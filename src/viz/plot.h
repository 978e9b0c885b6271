// Line plots as SVG (loss curves): text files a browser shows, written atomically.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace fratmae::viz {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

/// One panel per series (shared x axis), log-scale y when every value is positive.
std::string line_plot_svg(const std::string& title, const std::string& x_label, const std::vector<Series>& series);
void write_line_plot(const std::filesystem::path& path, const std::string& title, const std::string& x_label,
                     const std::vector<Series>& series);

}  // namespace fratmae::viz
