#!/usr/bin/env python3
"""Where a segmentation model's predicted lesions lie on a Hodgkin staging cohort (a diagnostic).

    scripts/lesion-regions.py MASKS RAW RUN

MASKS: `fratmae predict` outputs per case (MASKS/CASE/SEG.nii.gz); RAW: the phantom cohort
(RAW/CASE/{SEG,SUV}.nii.gz and lesions.json with diaphragm_s_mm); RUN: a staging run on that
cohort whose test cases are left out (its config.json split). Per case, each 26-connected
predicted component that touches no true lesion voxel is a false positive, placed above or below
the diaphragm by its mean head-feet index and split by its SUVmax (< 6, >= 6). Prints the counts,
and per stage group (early I-II, advanced III-IV) how many cases have false positives above and
below the diaphragm: a false positive below it makes an early case look advanced to a reader of
the map. Needs numpy (Debian: python3-numpy); NIfTI read by scripts/lesion-misses.py.
"""
import collections
import importlib.util
import json
import os
import sys

import numpy as np

_spec = importlib.util.spec_from_file_location("lesion_misses", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                             "lesion-misses.py"))
lm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lm)


def load(path):
    a, shape, spacing = lm.read_nifti(path)
    return np.frombuffer(a.tobytes(), dtype=a.typecode).reshape(shape[::-1]).transpose(2, 1, 0), spacing


def components(mask):
    """26-connected components of a boolean volume: a list of voxel lists."""
    label = np.zeros(mask.shape, np.int32)
    out = []
    for v in map(tuple, np.argwhere(mask)):
        if label[v]:
            continue
        out.append([])
        label[v] = len(out)
        stack = [v]
        while stack:
            x = stack.pop()
            out[-1].append(x)
            for d in np.ndindex(3, 3, 3):
                y = (x[0] + d[0] - 1, x[1] + d[1] - 1, x[2] + d[2] - 1)
                if all(0 <= y[i] < mask.shape[i] for i in range(3)) and mask[y] and not label[y]:
                    label[y] = len(out)
                    stack.append(y)
    return out


def main():
    masks, raw, run = sys.argv[1:4]
    test = set(json.load(open(os.path.join(run, "config.json")))["split"]["test"])
    counts, cases = collections.Counter(), collections.Counter()
    for case in sorted(os.listdir(masks)):
        if case in test or not os.path.isfile(os.path.join(masks, case, "SEG.nii.gz")):
            continue
        pred, spacing = load(os.path.join(masks, case, "SEG.nii.gz"))
        truth, _ = load(os.path.join(raw, case, "SEG.nii.gz"))
        suv, _ = load(os.path.join(raw, case, "SUV.nii.gz"))
        info = json.load(open(os.path.join(raw, case, "lesions.json")))
        diaphragm = info["diaphragm_s_mm"] / spacing[0]  # head-feet index (axis 0 runs from the top)
        above = below = 0
        for comp in components(pred > 0):
            if any(truth[v] for v in comp):
                counts["true-positive components"] += 1
                continue
            side = "above" if np.mean([v[0] for v in comp]) < diaphragm else "below"
            above += side == "above"
            below += side == "below"
            counts["false positives %s the diaphragm, SUVmax %s" % (side, ">= 6" if max(suv[v] for v in comp) >= 6 else "< 6")] += 1
        counts["cases"] += 1
        group = "early" if info["ann_arbor_stage"] <= 2 else "advanced"
        cases["%s cases, false positives above: %s, below: %s" % (group, "yes" if above else "no", "yes" if below else "no")] += 1
    for k, v in sorted(counts.items()):
        print("%-60s %d" % (k, v))
    for k, v in sorted(cases.items()):
        print("%-60s %d" % (k, v))


if __name__ == "__main__":
    main()
