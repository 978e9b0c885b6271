"""Time of the PyTorch reference's pre-training step, the same step as bench/pretrain_step.cpp:
gradients reset to None, forward (masks drawn from a per-step CPU generator; bf16 autocast on
CUDA with --bf16), backward, the logged values summed on the device (read once at the end),
clip_grad_norm_(1.0), torch.optim.AdamW (betas 0.9/0.95, weight decay 0.05 on matrices;
PyTorch's default implementation for the device), on synthetic inputs.

    pretrain_step.py [--preset tiny] [--method fratmae] [--batch 8] [--steps 20] [--warmup 3]
                     [--threads N] [--device cpu|cuda] [--bf16] [--compile]

--compile: torch.compile (PyTorch >= 2) of the encoders, decoders and text encoder (the heavy
modules; the masking draws and the per-modality routing stay eager, as in the model's code).
On the CPU each step is timed alone (median); on CUDA the steps run back to back between two
synchronisations and the mean is printed as the median (as the C++ program does).
Prints one line: `pytorch <preset> <method> batch B threads N ...: median X ms/step (...)`,
and with CUDA the peak memory allocated by tensors (torch.cuda.max_memory_allocated).
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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"

    cfg = R.ModelConfig.preset_config(a.preset, a.method)
    torch.manual_seed(0)
    net = R.FratMae(cfg).to(dev)
    opt = torch.optim.AdamW(R.param_groups(net, 0.05), lr=1e-4, betas=(0.9, 0.95))
    if a.compile:
        for name in ("pet_encoder", "ct_encoder", "pet_decoder", "ct_decoder", "text_encoder"):
            if hasattr(net, name):
                setattr(net, name, torch.compile(getattr(net, name)))
    gin = torch.Generator().manual_seed(1)
    shape = (a.batch, 1, *cfg.input)
    ct = torch.randn(shape, generator=gin).to(dev)
    pet = torch.randn(shape, generator=gin).abs().to(dev)
    ids = R.prompt_ids(a.batch, cfg.text.context).to(dev)
    params = list(net.parameters())
    sums = {}

    def add(key, value):
        v = value.detach().float()
        sums[key] = sums[key] + v if key in sums else v.clone()

    def one_step(step):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cuda and a.bf16):
            out = net(ct, pet, ids, gen=torch.Generator().manual_seed(step))
        out["loss"].backward()
        add("loss", out["loss"])
        add("mse", out["mse"])
        if out["align"] is not None:
            add("infonce", out["align"])
        add("grad_norm", torch.nn.utils.clip_grad_norm_(params, 1.0))
        opt.step()

    t_first = time.perf_counter()
    for step in range(a.warmup):
        one_step(step)
    if cuda:
        torch.cuda.synchronize()
    warm_s = time.perf_counter() - t_first
    ms = []
    if cuda:
        t0 = time.perf_counter()
        for step in range(a.warmup, a.warmup + a.steps):
            one_step(step)
        torch.cuda.synchronize()
        ms.append((time.perf_counter() - t0) * 1e3 / a.steps)
    else:
        for step in range(a.warmup, a.warmup + a.steps):
            t0 = time.perf_counter()
            one_step(step)
            ms.append((time.perf_counter() - t0) * 1e3)
    mean_loss = float(sums["loss"]) / (a.warmup + a.steps)
    med = statistics.median(ms)
    extra = ""
    if cuda:
        extra = f"; peak allocated {torch.cuda.max_memory_allocated(dev) / 2**20:.0f} MiB; warm-up {warm_s:.1f} s"
    print(f"pytorch {a.preset} {a.method} batch {a.batch} threads {torch.get_num_threads()} device {a.device}"
          f"{' bf16' if cuda and a.bf16 else ''}{' compiled' if a.compile else ''} (torch {torch.__version__}): "
          f"median {med:.2f} ms/step (min {min(ms):.2f}, mean {statistics.mean(ms):.2f}, {a.steps} steps after "
          f"{a.warmup} warm-up{', timed together' if cuda else ''}; {1000.0 * a.batch / med:.1f} samples/s; "
          f"mean loss {mean_loss:.4f}{extra})", flush=True)


if __name__ == "__main__":
    main()
