#!/usr/bin/env bash
# Sets up (Debian packages), builds fratmae and runs the main job on built-in data: the paper's
# experiment (Tables 2 and 3) in its `demo` size on phantom PET/CT cohorts -- pre-training of
# the four variants, fine-tuning of lesion segmentation and Ann Arbor staging, evaluation with
# bootstrap confidence intervals -- then the fine-tuned FratMAE segmentation model on the real
# DICOM PET/CT study in the repository. Run it again to continue an interrupted run.
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
$f predict --model "$out/finetune/seg/fratmae_20pct" --pet "$data/PET/image" --ct "$data/CT/image" \
  --out "$out/STS_002_prediction" --overwrite
cat <<TXT

demo: done. Look at
  $out/report.md                              the paper's Tables 2 and 3 (95% CIs) for this run
  $out/pictures/segmentation_examples.png     test-case MIPs: truth, baseline, FratMAE (lesions in red)
  $out/pictures/pretrain_loss.svg             pre-training loss of the four variants
  $out/finetune/<task>/<run>/                 every fine-tuning run (loss.svg, test/metrics.json, cases.csv)
  $out/STS_002_prediction/                    a real PET/CT study: SEG.nii.gz, lesions.json, mip.png
TXT
