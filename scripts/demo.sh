#!/usr/bin/env bash
# Sets up (Debian packages), builds fratmae and runs the main job on built-in data: the paper's
# experiment (Tables 2 and 3) in its `demo` size on phantom PET/CT cohorts -- pre-training of
# the four variants, fine-tuning of lesion segmentation and Ann Arbor staging, evaluation with
# bootstrap confidence intervals, reference floors -- then the full-label segmentation model and
# the 41%-of-SUVmax floor on the real DICOM PET/CT study in the repository. Run it again to
# continue an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${FRATMAE_JOBS:-$(nproc)}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs" --target fratmae
out=${1:-out/demo}
f=build/fratmae
$f experiment --preset demo --out "$out"
data=tests/fixtures/real/ibsi_sts_002_cropped_petct_dicom
$f predict --model "$out/finetune/seg/baseline_100pct/seed0" --pet "$data/PET/image" --ct "$data/CT/image" \
  --out "$out/STS_002_prediction" --overwrite
$f predict --floor suvmax41 --pet "$data/PET/image" --ct "$data/CT/image" --out "$out/STS_002_floor" --overwrite
cat <<TXT

demo: done. Look at
  $out/report.html                            all of it as one page (tables, curves, a test case in a viewer)
  $out/report.md                              the paper's claims and Tables 2 and 3 (95% CIs), floors
  $out/pictures/segmentation_examples.png     test-case MIPs: truth, floor, full-label, baseline, FratMAE
  $out/pictures/pretrain_loss.svg             pre-training loss of the four variants
  $out/pictures/finetune_curves_*.svg         validation Dice / accuracy during fine-tuning
  $out/finetune/<task>/<setting>/seed0/       every fine-tuning run (loss.svg, test/metrics.json, cases.csv)
  $out/STS_002_prediction/                    a real PET/CT study: SEG.nii.gz, lesions.json, mip.png, report.html
  $out/STS_002_floor/                         the same study, 41% of SUVmax per hot region
TXT
