#include "viz/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/atomic_output.h"

namespace fratmae::viz {

namespace {
std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.4g", v);
  return b;
}
std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}
}  // namespace

std::string line_plot_svg(const std::string& title, const std::string& x_label, const std::vector<Series>& series) {
  const int W = 720, panel_h = 200, left = 70, right = 20, top = 40, gap = 50;
  const int H = top + static_cast<int>(series.size()) * (panel_h + gap) + 10;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << escape(title) << "</text>\n";
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& sr = series[k];
    const int y0 = top + static_cast<int>(k) * (panel_h + gap);
    const int pw = W - left - right;
    s << "<rect x=\"" << left << "\" y=\"" << y0 << "\" width=\"" << pw << "\" height=\"" << panel_h
      << "\" fill=\"none\" stroke=\"#888\"/>\n";
    s << "<text x=\"" << left + 6 << "\" y=\"" << y0 + 16 << "\">" << escape(sr.name) << "</text>\n";
    if (sr.x.empty()) continue;
    const double xmin = *std::min_element(sr.x.begin(), sr.x.end()), xmax = *std::max_element(sr.x.begin(), sr.x.end());
    double ymin = *std::min_element(sr.y.begin(), sr.y.end()), ymax = *std::max_element(sr.y.begin(), sr.y.end());
    const bool logy = ymin > 0 && ymax / ymin > 3;
    auto ty = [&](double v) { return logy ? std::log10(v) : v; };
    double a = ty(ymin), b = ty(ymax);
    if (b - a < 1e-12) { a -= 0.5; b += 0.5; }
    auto px = [&](double x) { return left + (xmax > xmin ? (x - xmin) / (xmax - xmin) : 0.5) * pw; };
    auto py = [&](double y) { return y0 + panel_h - (ty(y) - a) / (b - a) * panel_h; };
    s << "<polyline fill=\"none\" stroke=\"" << colours[k % 5] << "\" stroke-width=\"1.5\" points=\"";
    for (size_t i = 0; i < sr.x.size(); ++i) s << num(px(sr.x[i])) << "," << num(py(sr.y[i])) << " ";
    s << "\"/>\n";
    s << "<text x=\"" << left - 6 << "\" y=\"" << y0 + 12 << "\" text-anchor=\"end\">" << num(ymax) << "</text>\n";
    s << "<text x=\"" << left - 6 << "\" y=\"" << y0 + panel_h << "\" text-anchor=\"end\">" << num(ymin) << "</text>\n";
    if (logy) s << "<text x=\"" << left - 6 << "\" y=\"" << y0 + panel_h / 2 << "\" text-anchor=\"end\">log</text>\n";
    s << "<text x=\"" << left << "\" y=\"" << y0 + panel_h + 16 << "\">" << num(xmin) << "</text>\n";
    s << "<text x=\"" << left + pw << "\" y=\"" << y0 + panel_h + 16 << "\" text-anchor=\"end\">" << num(xmax) << "</text>\n";
    s << "<text x=\"" << left + pw / 2 << "\" y=\"" << y0 + panel_h + 16 << "\" text-anchor=\"middle\">" << escape(x_label)
      << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

void write_line_plot(const std::filesystem::path& path, const std::string& title, const std::string& x_label,
                     const std::vector<Series>& series) {
  write_file_atomic(path, line_plot_svg(title, x_label, series));
}

}  // namespace fratmae::viz
