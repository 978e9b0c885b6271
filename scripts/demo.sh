#!/usr/bin/env bash
# Sets up (Debian packages), builds fratmae and runs the main job on built-in data.
# For now: converts the real PET/CT study that the repository carries (IBSI STS_002) to
# SUV/CT/CTres NIfTI and prints what was written.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${FRATMAE_JOBS:-$(nproc)}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs" --target fratmae
out=${1:-out/demo}
data=tests/fixtures/real/ibsi_sts_002_cropped_petct_dicom
build/fratmae convert --pet-dicom "$data/PET/image" --ct-dicom "$data/CT/image" --out "$out/STS_002" --overwrite
build/fratmae info "$out/STS_002"
echo "demo: wrote $out/STS_002 (SUV.nii.gz, CT.nii.gz, CTres.nii.gz, study.json)"
