"""The data path in plain PyTorch/numpy, written the way a PyTorch user would, for
bench/data_vs_pytorch.sh (fratmae's side: bench/data_ref_bench.cpp, same modes and protocol).

    data_ref.py preprocess --dump DIR [--reps 3] [--warmup 1] [--threads N] [--check]
        Preprocesses DIR/in_<k>.safetensors (raw phantom arrays written by
        `data_ref_bench preprocess --dump DIR`) as src/data/preprocess.cpp does: validation
        (the checks of data::validate_case), normalisation (src/data/normalize.cpp: CT clipped
        to [-1000, 1000] HU -> [-1, 1]; PET SUV clipped to [0, 20], log1p(SUV) / log1p(20)),
        whole-body resize to 160 x 160 x 192 (F.interpolate, trilinear, align_corners=False,
        for images; nearest for the mask), int16 codes round(x * 32767), the native copy, the
        lesion voxel list (torch.nonzero, an even subsample past 65536). Times it (median of
        `reps` passes per case after `warmup`, mean over cases). With --check, compares every
        array with fratmae's DIR/out_<k>.safetensors: max |difference| of the int16 codes
        (parity: <= 1 code), masks and lesion voxels exactly; exit status 1 when it fails.

    data_ref.py loader --cache DIR [--batch 4] [--workers 2] [--threads N] [--min-time 2]
                       [--min-batches 20] [--warmup-epochs 2]
        The pre-training sampler over a fratmae cache (index.json + numpy memmaps of
        cases/<id>.bin; format: src/data/cache_format.h) as a torch.utils.data Dataset and
        DataLoader (shuffle, drop_last, `workers` worker processes, persistent_workers,
        default prefetch and collate): per sample a random coronal stack of 32 rows, every 2nd
        of 64 (h0 uniform), decoded q / 32767, CT and PET each times U(0.9, 1.1) plus
        U(-0.05, 0.05), mirrored along W with probability 0.5, the mask cut and mirrored with
        them; text ids, stage label and case index; batches ct, pet (B, 1, 32, 160, 192)
        float32, seg (B, 1, 32, 160, 192) uint8, text_ids (B, 77) int64, as
        data::LoaderConfig::pretraining. The random draws come from torch's generator (the
        DataLoader seeds each worker), not fratmae's per-sample seeds, so batches are not
        equal to fratmae's; the work per sample is the same.

    data_ref.py sampler-check --cache DIR --batch-file FILE
        For each sample of a fratmae batch (`data_ref_bench loader --dump FILE`), finds the
        draws that explain it (h0, flip, and the CT and PET scale and shift, fitted) and checks
        that CoronalStacks.sample with those draws gives the same ct, pet (within 1e-5), seg,
        text ids and stage label, and that the fitted draws lie in the augmentation's ranges.

Each mode prints one line starting with `pytorch` (--check: `parity`; sampler-check:
`sampler-check`).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

# The paper's cache settings (data::CacheSettings / NormalizeConfig defaults).
SIZE = (160, 160, 192)
CT_MIN_HU, CT_MAX_HU = -1000.0, 1000.0
PET_MAX_SUV = 20.0
INT16_SCALE = 32767.0
MAX_LESION_VOXELS = 65536


# --------------------------------------------------------------------------------------------
# Preprocessing of one case


def validate_case(ct, suv, seg, spacing, what="case"):
    """The checks of data::validate_case (same work: finiteness, ranges, mask values)."""
    if ct.dim() != 3 or suv.dim() != 3 or ct.shape != suv.shape:
        raise ValueError(f"{what}: CT {tuple(ct.shape)} and PET {tuple(suv.shape)} must be 3-D volumes of one size")
    if seg is not None and seg.shape != suv.shape:
        raise ValueError(f"{what}: SEG {tuple(seg.shape)} and PET differ in size")
    if not all(s > 0 and math.isfinite(s) for s in spacing):
        raise ValueError(f"{what}: voxel spacing must be positive")
    ct, suv = ct.float(), suv.float()
    bad_ct = int((~torch.isfinite(ct)).sum())
    bad_pet = int((~torch.isfinite(suv)).sum())
    if bad_ct or bad_pet:
        raise ValueError(f"{what}: {bad_pet} PET and {bad_ct} CT voxels are NaN or infinite")
    ct_min, ct_max = float(ct.min()), float(ct.max())
    if ct_min > -500 or ct_max > 40000 or ct_min < -10000:
        raise ValueError(f"{what}: CT values range from {ct_min} to {ct_max}, not HU")
    pet_min, pet_max = float(suv.min()), float(suv.max())
    if pet_max > 1000 or pet_min < -10 or pet_max <= 0:
        raise ValueError(f"{what}: PET values from {pet_min} to {pet_max} are not SUV")
    if seg is not None and int(seg.max()) > 1:
        raise ValueError(f"{what}: SEG has values other than 0 and 1")


def normalize_ct(hu):
    half, mid = 0.5 * (CT_MAX_HU - CT_MIN_HU), 0.5 * (CT_MAX_HU + CT_MIN_HU)
    return (hu.float().clamp(CT_MIN_HU, CT_MAX_HU) - mid) / half


def normalize_pet(suv):
    return torch.log1p(suv.float().clamp(0.0, PET_MAX_SUV)) / math.log1p(PET_MAX_SUV)


def quantize_int16(x):
    return (x.float().clamp(-1.0, 1.0) * INT16_SCALE).round().to(torch.int16)


def resize_image(x, size):
    if tuple(x.shape) == tuple(size):
        return x.float()
    return F.interpolate(x.float()[None, None], size=size, mode="trilinear", align_corners=False)[0, 0]


def resize_labels(x, size):
    return F.interpolate(x.float()[None, None], size=size, mode="nearest")[0, 0].to(torch.uint8)


def preprocess_case(ct_hu, suv, seg, spacing, size=SIZE, native=True, max_lesion_voxels=MAX_LESION_VOXELS):
    """Returns a dict of the arrays data::preprocess_case stores in the cache."""
    validate_case(ct_hu, suv, seg, spacing)
    ct = normalize_ct(ct_hu)   # (h, w, d) in [-1, 1]
    pet = normalize_pet(suv)   # (h, w, d) in [0, 1]
    seg = seg.to(torch.uint8) if seg is not None else None
    out = {
        "wb_ct": quantize_int16(resize_image(ct, size)).contiguous(),    # (H, W, D)
        "wb_pet": quantize_int16(resize_image(pet, size)).contiguous(),  # (H, W, D)
        "wb_spacing": torch.tensor([spacing[a] * ct.shape[a] / size[a] for a in range(3)], dtype=torch.float64),
    }
    if seg is not None:
        out["wb_seg"] = resize_labels(seg, size).contiguous()
    if native:
        out["nat_ct"] = quantize_int16(ct).contiguous()
        out["nat_pet"] = quantize_int16(pet).contiguous()
        if seg is not None:
            out["nat_seg"] = seg.contiguous()
    lesions = torch.zeros((0, 3), dtype=torch.int32)
    count = 0
    if seg is not None:
        idx = torch.nonzero(seg)  # (n, 3) int64, row-major order
        count = idx.shape[0]
        if count > max_lesion_voxels:
            keep = torch.linspace(0, count - 1, max_lesion_voxels, dtype=torch.float64).round().long()
            idx = idx.index_select(0, keep)
        lesions = idx.to(torch.int32).contiguous()
    out["lesion_voxels"] = lesions
    out["lesion_voxel_count"] = torch.tensor([count], dtype=torch.int64)
    return out


def list_inputs(dump):
    ks = sorted(int(f[3:-12]) for f in os.listdir(dump) if f.startswith("in_") and f.endswith(".safetensors"))
    if not ks:
        raise SystemExit(f"data_ref.py: no in_<k>.safetensors in {dump} (run data_ref_bench preprocess --dump {dump})")
    return ks


def run_preprocess(a):
    ks = list_inputs(a.dump)
    cases = []
    for k in ks:
        t, meta = safetensors_io.load(os.path.join(a.dump, f"in_{k}.safetensors"))
        cases.append((k, meta.get("id", str(k)), t["ct"], t["suv"], t.get("seg"), t["spacing"].tolist()))
    ms = {k: [] for k in ks}
    results = {}
    for r in range(a.warmup + a.reps):
        for k, _, ct, suv, seg, spacing in cases:
            t0 = time.perf_counter()
            out = preprocess_case(ct, suv, seg, spacing)
            dt = (time.perf_counter() - t0) * 1e3
            if r >= a.warmup:
                ms[k].append(dt)
            results[k] = out
    per_case = statistics.mean(statistics.median(v) for v in ms.values())
    shape = "x".join(str(s) for s in cases[0][2].shape)
    print(f"pytorch preprocess cases {len(ks)} threads {torch.get_num_threads()} (torch {torch.__version__}): "
          f"{per_case:.2f} ms/case, {1e3 / per_case:.3f} cases/s (median of {a.reps} passes per case after "
          f"{a.warmup} warm-up, mean over cases; input {shape} -> {'x'.join(map(str, SIZE))})")
    if not a.check:
        return 0
    return check_parity(a.dump, cases, results)


def check_parity(dump, cases, results):
    """Max |difference| of the int16 codes per array over all cases; masks, lesion voxels and
    their count exactly; spacing within 1e-9 mm."""
    worst = {}
    problems = []
    for k, cid, *_ in cases:
        path = os.path.join(dump, f"out_{k}.safetensors")
        if not os.path.exists(path):
            problems.append(f"{path} missing")
            continue
        ref, _ = safetensors_io.load(path)
        mine = results[k]
        for name in sorted(set(ref) | set(mine)):
            if name not in ref or name not in mine:
                problems.append(f"case {cid}: {name} only on the {'pytorch' if name in mine else 'fratmae'} side")
                continue
            x, y = mine[name], ref[name]
            if x.shape != y.shape or x.dtype != y.dtype:
                problems.append(f"case {cid}: {name} {x.dtype}{list(x.shape)} vs fratmae {y.dtype}{list(y.shape)}")
                continue
            if x.dtype == torch.int16:
                d = int((x.to(torch.int32) - y.to(torch.int32)).abs().max()) if x.numel() else 0
                worst[name] = max(worst.get(name, 0), d)
                if d > 1:
                    n = int(((x.to(torch.int32) - y.to(torch.int32)).abs() > 1).sum())
                    problems.append(f"case {cid}: {name} differs by up to {d} codes ({n} voxels by more than 1)")
            elif x.dtype == torch.float64:
                d = float((x - y).abs().max())
                if d > 1e-9:
                    problems.append(f"case {cid}: {name} differs by {d}")
            else:
                n = int((x != y).sum())
                worst[name] = max(worst.get(name, 0), n)
                if n:
                    problems.append(f"case {cid}: {name}: {n} entries differ")
    codes = max((worst[n] for n in ("wb_ct", "wb_pet", "nat_ct", "nat_pet") if n in worst), default=-1)
    detail = ", ".join(f"{n} {worst[n]}" for n in ("wb_ct", "wb_pet", "nat_ct", "nat_pet") if n in worst)
    exact = ", ".join(f"{n} {worst[n]}" for n in ("wb_seg", "nat_seg", "lesion_voxels", "lesion_voxel_count")
                      if n in worst)
    for p in problems:
        print(f"parity: {p}")
    status = "PASS" if not problems and codes >= 0 else "FAIL"
    print(f"parity {status}: {len(cases)} cases, max |code difference| {codes} (per array: {detail}); "
          f"entries differing: {exact}")
    return 0 if status == "PASS" else 1


# --------------------------------------------------------------------------------------------
# The pre-training sampler


class CoronalStacks(torch.utils.data.Dataset):
    """Random augmented coronal stacks of every case of a fratmae cache (memory-mapped)."""

    def __init__(self, cache_dir, slices=32, stride=2, flip_prob=0.5, scale=0.1, shift=0.05):
        with open(os.path.join(cache_dir, "index.json")) as f:
            index = json.load(f)
        if index.get("format") != "fratmae-cache" or index.get("format_version") != 1:
            raise ValueError(f"{cache_dir}: not a fratmae cache of format version 1")
        self.slices, self.stride = slices, stride
        self.flip_prob, self.scale, self.shift = flip_prob, scale, shift
        self.cases = []
        for rec in index["cases"]:
            path = os.path.join(cache_dir, rec["file"])
            arrays = {}
            for name in ("wb_ct", "wb_pet", "wb_seg"):
                a = rec["arrays"].get(name)
                if a is not None:  # copy-on-write: writable for torch.from_numpy, never written
                    arrays[name] = np.memmap(path, dtype=np.dtype(a["dtype"]).newbyteorder("<"), mode="c",
                                             offset=a["offset"], shape=tuple(a["shape"]))
            arrays["text_ids"] = torch.tensor(rec["text_ids"], dtype=torch.int64)
            arrays["stage_label"] = torch.tensor(rec["stage_label"], dtype=torch.int64)
            self.cases.append(arrays)
        # The mask is part of the batch only when every case has one (as data::make_batch).
        self.with_seg = all("wb_seg" in c for c in self.cases)

    def __len__(self):
        return len(self.cases)

    def __getitem__(self, i):
        span = self.stride * self.slices
        h0 = int(torch.randint(0, self.cases[i]["wb_ct"].shape[0] - span + 1, ()))
        u = torch.rand(5, dtype=torch.float64).tolist()
        flip = u[0] < self.flip_prob
        ct_scale, ct_shift = 1 - self.scale + 2 * self.scale * u[1], -self.shift + 2 * self.shift * u[2]
        pet_scale, pet_shift = 1 - self.scale + 2 * self.scale * u[3], -self.shift + 2 * self.shift * u[4]
        return self.sample(i, h0, flip, ct_scale, ct_shift, pet_scale, pet_shift)

    def sample(self, i, h0, flip, ct_scale, ct_shift, pet_scale, pet_shift):
        """Case i's sample for these draws."""
        c = self.cases[i]
        rows = slice(h0, h0 + self.stride * self.slices, self.stride)

        def cut(name):  # (32, W, D) rows h0, h0 + 2, ... of the memmap, mirrored along W
            x = torch.from_numpy(c[name][rows])
            return x.flip(1) if flip else x

        def image(name, scale, shift):  # decoded and augmented, (1, 32, W, D) float32
            return cut(name).float().mul_(scale / INT16_SCALE).add_(shift).unsqueeze(0)

        sample = {"ct": image("wb_ct", ct_scale, ct_shift), "pet": image("wb_pet", pet_scale, pet_shift)}
        if self.with_seg:
            sample["seg"] = cut("wb_seg").unsqueeze(0)  # (1, 32, W, D) uint8
        sample["text_ids"] = c["text_ids"]
        sample["stage_label"] = c["stage_label"]
        sample["case_index"] = torch.tensor(i, dtype=torch.int64)
        return sample


def run_sampler_check(a):
    """Finds, for each sample of a fratmae batch (data_ref_bench loader --dump), the draws
    (h0, flip, CT and PET scale and shift) that explain it and checks that CoronalStacks.sample
    with those draws gives the same tensors: the reference does fratmae's work per sample."""
    ds = CoronalStacks(a.cache)
    ref, _ = safetensors_io.load(a.batch_file)
    span = ds.stride * ds.slices
    worst, flipped, problems = 0.0, 0, []
    for b, i in enumerate(ref["case_index"].tolist()):
        c = ds.cases[i]
        found = None
        for h0 in range(c["wb_ct"].shape[0] - span + 1):
            for flip in (False, True):
                fits = []
                for name, key in (("wb_ct", "ct"), ("wb_pet", "pet")):
                    q = torch.from_numpy(c[name][h0:h0 + span:ds.stride])
                    q = (q.flip(1) if flip else q).reshape(-1)[::97].double()  # a subset for the search
                    y = ref[key][b, 0].reshape(-1)[::97].double()
                    # y = q * slope + shift, least squares over two voxel sets with distinct codes
                    dq = q - q.mean()
                    var = float((dq * dq).sum())
                    if var == 0:
                        break
                    slope = float((dq * (y - y.mean())).sum()) / var
                    shift = float(y.mean()) - slope * float(q.mean())
                    if float((q * slope + shift - y).abs().max()) > 1e-4:
                        break
                    fits.append((slope * INT16_SCALE, shift))
                if len(fits) == 2:
                    found = (h0, flip, *fits[0], *fits[1])
                    break
            if found:
                break
        if found is None:
            problems.append(f"sample {b} (case {i}): no coronal stack of the cache explains it")
            continue
        h0, flip, cs, csh, ps, psh = found
        flipped += flip
        if not (1 - ds.scale - 1e-6 <= cs <= 1 + ds.scale + 1e-6 and 1 - ds.scale - 1e-6 <= ps <= 1 + ds.scale + 1e-6
                and abs(csh) <= ds.shift + 1e-6 and abs(psh) <= ds.shift + 1e-6):
            problems.append(f"sample {b}: scale/shift {cs:.4f} {csh:.4f} {ps:.4f} {psh:.4f} outside the ranges")
        mine = ds.sample(i, h0, flip, cs, csh, ps, psh)
        for key in ("ct", "pet"):
            worst = max(worst, float((mine[key] - ref[key][b]).abs().max()))
        if "seg" in ref and not torch.equal(mine["seg"], ref["seg"][b]):
            problems.append(f"sample {b}: the mask differs")
        for key in ("text_ids", "stage_label"):
            if not torch.equal(mine[key], ref[key][b]):
                problems.append(f"sample {b}: {key} differs")
    if worst > 1e-5:
        problems.append(f"images differ by up to {worst:.3g}")
    for p in problems:
        print(f"sampler-check: {p}")
    n = ref["ct"].shape[0]
    status = "PASS" if not problems else "FAIL"
    print(f"sampler-check {status}: {n} samples of a fratmae batch reproduced by the reference from the draws "
          f"that explain them (h0, flip, scale, shift in range; {flipped} flipped); max |difference| {worst:.3g}")
    return 0 if status == "PASS" else 1


def describe(b):
    """dtype[shape] in [min, max] of the batch's tensors, as data_ref_bench prints them."""
    return " ".join(f"{k} {str(v.dtype).replace('torch.', '')}{list(v.shape)} in [{float(v.min()):.3g}, "
                    f"{float(v.max()):.3g}]" for k, v in b.items() if k in ("ct", "pet", "seg", "text_ids"))


def run_loader(a):
    ds = CoronalStacks(a.cache)
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, drop_last=True,
                                         num_workers=a.workers, persistent_workers=a.workers > 0)
    per_epoch = len(loader)
    if per_epoch == 0:
        raise SystemExit(f"data_ref.py: {len(ds)} cases cannot fill one batch of {a.batch}")
    it = iter(loader)

    def next_batch():
        nonlocal it
        try:
            return next(it)
        except StopIteration:
            it = iter(loader)
            return next(it)

    shapes = ""
    for _ in range(a.warmup_epochs * per_epoch):
        b = next_batch()
        shapes = shapes or describe(b)
    samples = batches = 0
    total = 0.0
    t0 = time.perf_counter()
    elapsed = 0.0
    while batches < a.min_batches or elapsed < a.min_time:
        b = next_batch()
        total += float(b["ct"].view(-1)[0])  # the batch is read, as a model would
        samples += b["ct"].shape[0]
        batches += 1
        elapsed = time.perf_counter() - t0
    print(f"pytorch loader batch {a.batch} workers {a.workers} threads {torch.get_num_threads()} "
          f"(torch {torch.__version__}): {samples / elapsed:.1f} samples/s ({batches} batches in {elapsed:.2f} s "
          f"after {a.warmup_epochs} warm-up epochs; {len(ds)} cases, {per_epoch} batches/epoch; {shapes})")
    assert math.isfinite(total)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("preprocess")
    p.add_argument("--dump", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--check", action="store_true")
    q = sub.add_parser("loader")
    q.add_argument("--cache", required=True)
    q.add_argument("--batch", type=int, default=4)
    q.add_argument("--workers", type=int, default=2)
    q.add_argument("--threads", type=int, default=0)
    q.add_argument("--min-time", type=float, default=2.0)
    q.add_argument("--min-batches", type=int, default=20)
    q.add_argument("--warmup-epochs", type=int, default=2)
    k = sub.add_parser("sampler-check")
    k.add_argument("--cache", required=True)
    k.add_argument("--batch-file", required=True)
    k.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    return {"preprocess": run_preprocess, "loader": run_loader, "sampler-check": run_sampler_check}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
