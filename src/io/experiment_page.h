// `experiment`'s report.html: one self-contained page with the experiment's report (report.md's
// tables with their CIs), its pictures (loss and validation curves, the example MIPs) and the
// example test case in the viewer, the truth and every model's mask to choose from
// (io/report_html.h). Written from the experiment folder's own files (report.md, report.json,
// pictures/), so it can be written again for any finished experiment.
#pragma once

#include <filesystem>

namespace fratmae::io {

/// Writes EXPERIMENT/report.html atomically. Throws FileError naming a missing report.md (the
/// experiment has not finished) or an unreadable example-case file.
void write_experiment_page(const std::filesystem::path& experiment);

}  // namespace fratmae::io
