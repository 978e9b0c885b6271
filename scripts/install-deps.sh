#!/usr/bin/env bash
# Installs every Debian package fratmae needs to build, test and run (Debian 12).
# Idempotent: packages already present are left alone. Used by the README and by .ci/run.
# Then the npm packages of web/ (the NiiVue viewer that HTML reports inline, playwright-core
# for the page's test in chromium), pinned by web/package-lock.json, with `npm ci`.
#
# On a GPU machine use a CUDA LibTorch 2.x instead of libtorch-dev, through CMAKE_PREFIX_PATH:
#   cmake -S . -B build -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev                 # LibTorch 1.13 (CPU)
  libinsighttoolkit5-dev       # ITK 5.2: NIfTI/NRRD/MHA, DICOM through GDCM
  libgdcm-dev                  # GDCM headers (ITK's DICOM library)
  libdcmtk-dev                 # DCMTK 3.6.7: DICOM SEG in and out (dcmseg, dcmfg, dcmiod)
  dicom3tools                  # dciodvfy: tests check the SEG objects fratmae writes
  orthanc                      # a local PACS the --send test starts on 127.0.0.1
  libgloo-dev                  # c10d's Gloo backend
  nlohmann-json3-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libstb-dev zlib1g-dev
  libssl-dev                   # SHA-256 of weights and inputs (provenance)
  python3-torch                # the PyTorch reference (bench/reference): parity test, benchmarks
  chromium                     # headless: the test of the HTML report page
)
# Node.js and npm (web/): Debian's, unless a node and npm are on the PATH already.
command -v node > /dev/null || packages+=(nodejs)
command -v npm > /dev/null || packages+=(npm)

here=$(cd "$(dirname "$0")/.." && pwd)
web_packages() {
  # npm ci again only when the lockfile changed since the last install.
  if [ ! -f "$here/web/node_modules/.package-lock.json" ] ||
     [ "$here/web/package-lock.json" -nt "$here/web/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in web/"
    (cd "$here/web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  web_packages
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
web_packages
