#!/usr/bin/env python3
"""Which phantom lesions a segmentation model finds, and which it misses (a diagnostic).

    scripts/lesion-misses.py PRED RAW [CASE...]

PRED: predictions as `fratmae predict` writes them (PRED/CASE/SEG.nii.gz) or PRED/CASE.nii.gz;
RAW: the phantom cohort (`fratmae phantom --out RAW`: RAW/CASE/{SEG,SUV,CTres}.nii.gz and
lesions.json). Without CASE, every case of PRED. For each lesion the phantom drew (lesions.json:
site, diameter, contrast to its background, true SUV) it prints whether a predicted voxel lies in
its truth component (18-connected, the component holding the voxel nearest its centre), the share
of that component predicted, the component's measured SUVmax and mean CT HU, then a summary of
detection by site, by contrast and by size. Standard library only (no numpy): NIfTI-1 read by
hand, fine for the small phantom grids. Used to find out why models miss lesions
(docs/experiments.md); run it on validation cases, never on a test split while choosing settings.
"""
import collections
import gzip
import json
import os
import struct
import sys
from array import array

DTYPES = {2: "B", 4: "h", 8: "i", 16: "f", 64: "d", 256: "b", 512: "H"}


def read_nifti(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    endian = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    dims = struct.unpack(endian + "8h", raw[40:56])
    code = struct.unpack(endian + "h", raw[70:72])[0]
    pixdim = struct.unpack(endian + "8f", raw[76:108])
    offset = int(struct.unpack(endian + "f", raw[108:112])[0])
    slope, inter = struct.unpack(endian + "2f", raw[112:120])
    shape = dims[1:4]
    n = shape[0] * shape[1] * shape[2]
    a = array(DTYPES[code])
    a.frombytes(raw[offset:offset + n * a.itemsize])
    if endian != ("<" if sys.byteorder == "little" else ">"):
        a.byteswap()
    if slope not in (0.0, 1.0) or inter != 0.0:
        a = array("f", (v * slope + inter for v in a))
    return a, shape, pixdim[1:4]


def components(mask, shape):
    """18-connected components of the voxels where mask is true: {voxel index: label}, sizes."""
    nx, ny, nz = shape
    offs = [(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)
            if (dx, dy, dz) != (0, 0, 0) and abs(dx) + abs(dy) + abs(dz) <= 2]
    fg = [i for i, v in enumerate(mask) if v]
    label, sizes = {}, []
    for seed in fg:
        if seed in label:
            continue
        lab = len(sizes)
        label[seed] = lab
        stack, size = [seed], 0
        while stack:
            i = stack.pop()
            size += 1
            x, y, z = i % nx, (i // nx) % ny, i // (nx * ny)
            for dx, dy, dz in offs:
                a, b, c = x + dx, y + dy, z + dz
                if 0 <= a < nx and 0 <= b < ny and 0 <= c < nz:
                    j = a + nx * (b + ny * c)
                    if mask[j] and j not in label:
                        label[j] = lab
                        stack.append(j)
        sizes.append(size)
    return label, sizes


def prediction_path(pred, case):
    for p in (os.path.join(pred, case, "SEG.nii.gz"), os.path.join(pred, case + ".nii.gz")):
        if os.path.exists(p):
            return p
    return None


def analyse(pred_dir, raw, case):
    truth, shape, sp = read_nifti(os.path.join(raw, case, "SEG.nii.gz"))
    pp = prediction_path(pred_dir, case)
    if pp is None:
        raise SystemExit("%s: no prediction for case %s" % (pred_dir, case))
    pred, pshape, _ = read_nifti(pp)
    if pshape != shape:
        raise SystemExit("%s: grid %s differs from the truth's %s" % (pp, pshape, shape))
    suv, _, _ = read_nifti(os.path.join(raw, case, "SUV.nii.gz"))
    ct, _, _ = read_nifti(os.path.join(raw, case, "CTres.nii.gz"))
    meta = json.load(open(os.path.join(raw, case, "lesions.json")))
    label, sizes = components([v > 0 for v in truth], shape)
    nx, ny, nz = shape  # NIfTI axes: D (inferior), W (x), H (y) of the phantom grid
    # Phantom coordinates of index (i, j, k): s = i * sp[0], x = (j - (ny-1)/2) sp[1], y = (k - (nz-1)/2) sp[2].
    members = collections.defaultdict(list)
    for i, lab in label.items():
        members[lab].append(i)
    rows = []
    for les in meta["lesions"]:
        c = les["centre_mm"]
        best, best_d = None, None
        for lab, vox in members.items():
            for i in vox:
                x, y, z = i % nx, (i // nx) % ny, i // (nx * ny)
                d = ((x * sp[0] - c["s_inferior"]) ** 2 + ((y - (ny - 1) / 2) * sp[1] - c["x_left"]) ** 2 +
                     ((z - (nz - 1) / 2) * sp[2] - c["y_posterior"]) ** 2)
                if best_d is None or d < best_d:
                    best, best_d = lab, d
        if best is None or best_d ** 0.5 > les["diameter_mm"] / 2 + 10:
            continue  # not rendered on this grid (too small) or merged out of reach
        vox = members[best]
        hit = sum(1 for i in vox if pred[i] > 0)
        rows.append({"case": case, "site": les["site"], "diameter_mm": les["diameter_mm"],
                     "contrast": les["contrast"], "suv_true": les["suv_true"],
                     "component_voxels": len(vox), "volume_ml": len(vox) * sp[0] * sp[1] * sp[2] / 1000,
                     "suv_max": max(suv[i] for i in vox), "ct_mean_hu": sum(ct[i] for i in vox) / len(vox),
                     "detected": hit > 0, "covered": hit / len(vox)})
    return rows


def summary(rows, key, bins=None):
    groups = collections.defaultdict(list)
    for r in rows:
        v = r[key]
        if bins:
            v = next(("%g-%g" % (lo, hi) for lo, hi in zip(bins, bins[1:]) if lo <= v < hi), ">=%g" % bins[-1])
        groups[v].append(r)
    print("\nby %s:" % key)
    for g, rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        det = sum(r["detected"] for r in rs)
        cov = sum(r["covered"] for r in rs) / len(rs)
        print("  %-28s lesions %3d  detected %3d (%.2f)  mean share covered %.2f" % (g, len(rs), det, det / len(rs), cov))


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    pred, raw = sys.argv[1], sys.argv[2]
    cases = sys.argv[3:] or sorted(c for c in os.listdir(pred) if prediction_path(pred, c.replace(".nii.gz", "")))
    cases = [c.replace(".nii.gz", "") for c in cases]
    rows = []
    for case in cases:
        rows += analyse(pred, raw, case)
    print("case      site                 diam_mm contrast suv_true suv_max  ct_hu  voxels detected covered")
    for r in rows:
        print("%-9s %-20s %7.1f %8.2f %8.2f %7.2f %6.0f %7d %8s %7.2f" % (
            r["case"], r["site"], r["diameter_mm"], r["contrast"], r["suv_true"], r["suv_max"], r["ct_mean_hu"],
            r["component_voxels"], "yes" if r["detected"] else "no", r["covered"]))
    summary(rows, "site")
    summary(rows, "contrast", [0, 2.2, 4, 8, 16])
    summary(rows, "suv_max", [0, 2.5, 4, 8, 15, 20])
    summary(rows, "volume_ml", [0, 0.5, 2, 8])
    summary(rows, "ct_mean_hu", [-1000, -300, 0, 100, 300])


if __name__ == "__main__":
    main()
