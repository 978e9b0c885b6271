#ifdef FRATMAE_WITH_ITK
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "cli/commands.h"
#include "io/convert.h"

namespace fratmae::cli {

void add_convert(CLI::App& app) {
  auto cfg = std::make_shared<io::ConvertConfig>();
  CLI::App* sub = app.add_subcommand(
      "convert",
      "Convert a PET/CT study (DICOM series or NIfTI/NRRD/MHA) to SUV.nii.gz, CT.nii.gz, "
      "CTres.nii.gz (CT on the PET grid), SEG.nii.gz (from --seg-dicom or --rtstruct) and study.json");
  sub->add_option("--pet-dicom", cfg->pet_dicom, "folder holding the PET DICOM series (converted to SUVbw)");
  sub->add_option("--pet", cfg->pet, "PET image already in SUVbw (.nii.gz, .nrrd, .mha)");
  sub->add_option("--pet-series", cfg->pet_series, "SeriesInstanceUID of the PET series, if the folder has several");
  sub->add_option("--ct-dicom", cfg->ct_dicom, "folder holding the CT DICOM series");
  sub->add_option("--ct", cfg->ct, "CT image in HU (.nii.gz, .nrrd, .mha)");
  sub->add_option("--ct-series", cfg->ct_series, "SeriesInstanceUID of the CT series, if the folder has several");
  sub->add_option("--seg-dicom", cfg->seg_dicom,
                  "a DICOM SEG of the study: its segments become SEG.nii.gz (0/1) on the PET grid");
  sub->add_option("--segment", cfg->seg_segments,
                  "segment numbers of --seg-dicom to keep (default: all, merged into one lesion label)");
  sub->add_option("--rtstruct", cfg->rtstruct,
                  "an RTSTRUCT of the study: the ROI --roi becomes SEG.nii.gz (0/1) on the PET grid");
  sub->add_option("--roi", cfg->roi, "ROI name or number of --rtstruct (a wrong one lists them)");
  sub->add_option("-o,--out", cfg->out, "output folder")->required();
  sub->add_flag("--overwrite", cfg->overwrite, "replace existing output files");
  sub->add_flag("--allow-different-frames", cfg->allow_different_frames,
                "accept CT and PET whose FrameOfReferenceUIDs differ (you know they are aligned)");
  sub->callback([cfg] {
    const auto t0 = std::chrono::steady_clock::now();
    io::ConvertedStudy study = io::convert_study(*cfg);
    io::write_study(study, *cfg);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("wrote {} in {:.1f} s: SUV.nii.gz{}{} study.json", cfg->out.string(), s,
                 study.ct ? ", CT.nii.gz, CTres.nii.gz," : "", study.seg ? ", SEG.nii.gz," : "");
  });
}

}  // namespace fratmae::cli
#endif
