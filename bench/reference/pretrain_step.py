"""Time of the PyTorch reference's pre-training step, the same step as bench/pretrain_step.cpp:
gradients reset to None, forward (masks drawn from a per-step CPU generator), backward, the
logged values read, clip_grad_norm_(1.0), torch.optim.AdamW (betas 0.9/0.95, weight decay 0.05
on matrices; PyTorch's default implementation for the device), on synthetic inputs.

    pretrain_step.py [--preset tiny] [--method fratmae] [--batch 8] [--steps 20] [--warmup 3]
                     [--threads N]

Prints one line: `pytorch <preset> <method> batch B threads N: median X ms/step (...)`.
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fratmae_ref as R  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--method", default="fratmae")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    cfg = R.ModelConfig.preset_config(a.preset, a.method)
    torch.manual_seed(0)
    net = R.FratMae(cfg)
    opt = torch.optim.AdamW(R.param_groups(net, 0.05), lr=1e-4, betas=(0.9, 0.95))
    gin = torch.Generator().manual_seed(1)
    shape = (a.batch, 1, *cfg.input)
    ct = torch.randn(shape, generator=gin)
    pet = torch.randn(shape, generator=gin).abs()
    ids = R.prompt_ids(a.batch, cfg.text.context)
    params = list(net.parameters())

    ms, loss = [], 0.0
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = net(ct, pet, ids, gen=torch.Generator().manual_seed(step))
        out["loss"].backward()
        loss = out["loss"].item()
        out["mse"].item()
        if out["align"] is not None:
            out["align"].item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        dt = (time.perf_counter() - t0) * 1e3
        if step >= a.warmup:
            ms.append(dt)
    print(f"pytorch {a.preset} {a.method} batch {a.batch} threads {torch.get_num_threads()} "
          f"(torch {torch.__version__}): median {statistics.median(ms):.2f} ms/step (min {min(ms):.2f}, "
          f"mean {statistics.mean(ms):.2f}, {len(ms)} steps after {a.warmup} warm-up; last loss {loss:.4f})")


if __name__ == "__main__":
    main()
