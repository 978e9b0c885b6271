#!/bin/sh
# Prints the python3 that imports torch, for the benchmark scripts: $PYTHON when set, else
# `python3` on the PATH, else /usr/bin/python3 (a pyenv `python3` on the PATH may not see
# Debian's python3-torch). Exits 1, saying what to install, when there is none.
if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; exit 0; fi
for c in python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch' >/dev/null 2>&1; then echo "$c"; exit 0; fi
done
echo "no python3 with torch (Debian: apt-get install --no-install-recommends python3-torch)" >&2
exit 1
