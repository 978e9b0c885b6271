#!/usr/bin/env bash
# Sets up (Debian packages), builds fratmae and runs the main job on built-in data:
# a 20-case phantom PET/CT cohort, preprocessing, a short `tiny` FratMAE pre-training on CPU,
# export of the encoders; and the conversion of the real DICOM PET/CT study in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${FRATMAE_JOBS:-$(nproc)}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs" --target fratmae
out=${1:-out/demo}
f=build/fratmae
$f phantom --out "$out/cohort" --cases 20 --seed 0 --overwrite
$f preprocess --data "$out/cohort" --out "$out/cache" --size 32 32 48 --no-native
rm -rf "$out/run"
$f pretrain --cache "$out/cache" --out "$out/run" --preset tiny --steps 300 --batch 8 --lr 1e-3 \
  --checkpoint-every 100 --log-every 10
$f export --run "$out/run" --out "$out/encoders.safetensors"
data=tests/fixtures/real/ibsi_sts_002_cropped_petct_dicom
$f convert --pet-dicom "$data/PET/image" --ct-dicom "$data/CT/image" --out "$out/STS_002" --overwrite
cat <<TXT

demo: done. Look at
  $out/cohort/PHANTOM_0000/mip.png   coronal PET MIP (lesions outlined) beside a CT MIP
  $out/run/loss.svg                  pre-training loss curves; metrics in $out/run/metrics.jsonl
  $out/encoders.safetensors          the pre-trained encoders
  $out/STS_002/                      a real PET/CT study converted to SUV/CT/CTres NIfTI
TXT
