"""Numerical parity of fratmae (C++) and the PyTorch reference on one forward and backward.

    parity.py DIR [DIR ...]          compare each case bench/reference_parity wrote
    parity.py --export FILE --preset tiny --method fratmae [--seed 0]
                                     write the reference's own initial weights (for
                                     reference_parity --weights: the names must load there)

For each DIR (weights.safetensors + case.safetensors): loads the weights strictly into the
reference model, runs the forward with the recorded inputs, masked modality and masking noise,
backward, and compares loss, MSE, InfoNCE (relative error), masks (exact) and every gradient
(max |difference| / max |C++ gradient| per tensor; the worst is printed). It also redraws the
noise from the recorded generator seed with a torch.Generator and checks that it equals what
fratmae drew (same seed, same masks in both). Exit status 1 when anything is out of tolerance.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fratmae_ref as R  # noqa: E402
import safetensors_io as st  # noqa: E402

LOSS_RTOL = 1e-4
GRAD_RTOL = 1e-3


def rel(a, b):
    a, b = float(a), float(b)
    return abs(a - b) / max(abs(b), 1e-12)


def check_case(d):
    weights, wmeta = st.load(os.path.join(d, "weights.safetensors"))
    case, cmeta = st.load(os.path.join(d, "case.safetensors"))
    cfg = R.ModelConfig.from_json(wmeta["config"])
    net = R.FratMae(cfg)
    net.load_state_dict(weights, strict=True)  # raises on any missing or unexpected name
    ct, pet, ids = case["input.ct"], case["input.pet"], case["input.text_ids"]
    B = pet.size(0)
    problems = []

    # The generator: the same seed redraws fratmae's noise.
    gen = torch.Generator().manual_seed(int(cmeta["draw_seed"]))
    if cfg.cross_decoder():
        if cmeta["target"] == "draw":
            draws = [torch.rand(1, generator=gen).item() for _ in range(1 if cfg.mask_draw == "step" else B)]
            redrawn_target = [d < 0.5 for d in draws] * (B if cfg.mask_draw == "step" else 1)
            if redrawn_target != case["output.target_is_pet"].tolist():
                problems.append("redrawn masked modality differs from fratmae's")
        redrawn = [torch.rand(B, cfg.num_tokens(), generator=gen)]
    else:
        redrawn = [torch.rand(B, cfg.num_tokens(), generator=gen) for _ in range(2)]
    for i, n in enumerate(redrawn):
        if not torch.equal(n, case[f"noise.{i}"]):
            problems.append(f"redrawn noise.{i} differs from fratmae's")

    if cfg.cross_decoder():
        target = case["output.target_is_pet"].tolist()
        noise = case["noise.0"]
    else:
        target, noise = None, (case["noise.0"], case["noise.1"])
    out = net(ct, pet, ids, target=target, noise=noise)
    out["loss"].backward()

    errs = {"loss": rel(out["loss"], case["output.loss"]), "mse": rel(out["mse"], case["output.mse"])}
    if "output.align" in case:
        errs["align"] = rel(out["align"], case["output.align"])
    for k in ("mask_pet", "mask_ct"):
        if not torch.equal(out[k], case[f"output.{k}"]):
            problems.append(f"{k} differs")
    for k, v in errs.items():
        if v > LOSS_RTOL:
            problems.append(f"{k}: relative error {v:.2e} > {LOSS_RTOL:g}")

    worst, worst_name, n_grads = 0.0, "", 0
    for name, p in net.named_parameters():
        g_ref, key = p.grad, "grad." + name
        if key not in case:
            # fratmae leaves a gradient undefined where the reference has None (or all zeros).
            if g_ref is not None and g_ref.abs().max().item() > 0:
                problems.append(f"{name}: gradient in the reference only")
            continue
        if g_ref is None:
            problems.append(f"{name}: gradient in fratmae only")
            continue
        g = case[key]
        scale = max(g.abs().max().item(), 1e-12)
        e = (g_ref - g).abs().max().item() / scale
        n_grads += 1
        if e > worst:
            worst, worst_name = e, name
    if worst > GRAD_RTOL:
        problems.append(f"gradient {worst_name}: max error {worst:.2e} of its largest entry > {GRAD_RTOL:g}")

    label = (f"{cfg.preset} {cfg.method} target {cmeta['target']} ({cfg.mask_draw}), batch {B}, "
             f"fratmae gemm {cmeta.get('gemm', '?')}")
    detail = ", ".join(f"{k} rel {v:.1e}" for k, v in errs.items())
    print(f"{'OK  ' if not problems else 'FAIL'} {label}: loss {float(case['output.loss']):.6f} "
          f"(reference {out['loss'].item():.6f}); {detail}; {n_grads} gradients, worst {worst:.1e}"
          + (f" ({worst_name})" if worst_name else " (all equal)"))
    for p in problems:
        print(f"     {p}")
    return not problems, errs, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--export")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--method", default="fratmae")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.export:
        torch.manual_seed(a.seed)
        cfg = R.ModelConfig.preset_config(a.preset, a.method)
        net = R.FratMae(cfg)
        state = dict(net.state_dict())
        st.save(a.export, state, {"config": json.dumps(cfg.to_json())})
        print(f"reference {a.preset} {a.method}: {len(state)} tensors -> {a.export}")
        return 0
    ok = True
    for d in a.dirs:
        ok = check_case(d)[0] and ok
    print("parity: " + ("all cases within tolerance" if ok else "FAILED")
          + f" (loss rel {LOSS_RTOL:g}, gradients {GRAD_RTOL:g} of each tensor's largest entry)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
