"""The two numbers model FLOP utilisation needs, measured in the same run as the step times:

  peak: the device's dense bf16 matrix-product rate, measured (torch.matmul of n x n x n bf16
        random matrices, mean of timed products after warm-up; the best of n = 8192 and 16384);
        on the CPU (dry runs) float32 is measured instead;
  flops: the FLOPs of one pre-training sample of the reference model (fratmae_ref.FratMae,
        the same model as fratmae's C++), forward and backward, counted once with
        torch.utils.flop_counter.FlopCounterMode (matrix products, convolutions and attention;
        element-wise work is not counted, as is usual for MFU), divided by the batch.

    peak_and_flops.py [--preset paper] [--method fratmae] [--batch 4] [--device cuda]

Prints two JSON lines, {"peak_tflops": ...} and {"flops_per_sample": ...}.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import fratmae_ref as R  # noqa: E402


def matmul_rate(n, iters, device, dtype):
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        a @ b
    sync()
    return 2.0 * n ** 3 * iters / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--method", default="fratmae")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"

    if cuda:
        rates = [matmul_rate(8192, 20, dev, torch.bfloat16), matmul_rate(16384, 10, dev, torch.bfloat16)]
        dtype = "bf16"
    else:
        rates = [matmul_rate(1024, 5, dev, torch.float32)]
        dtype = "fp32"
    name = torch.cuda.get_device_name(dev) if cuda else "cpu"
    print(json.dumps({"peak_tflops": max(rates) / 1e12, "rates_tflops": [r / 1e12 for r in rates], "dtype": dtype,
                      "device_name": name, "torch": torch.__version__}), flush=True)

    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # PyTorch < 2.1 (Debian's 1.13: dry runs on the CPU)
        print(json.dumps({"flops_per_sample": None, "why": "torch.utils.flop_counter needs PyTorch >= 2.1"}))
        return
    cfg = R.ModelConfig.preset_config(a.preset, a.method)
    torch.manual_seed(0)
    net = R.FratMae(cfg).to(dev)
    shape = (a.batch, 1, *cfg.input)
    ct, pet = torch.randn(shape, device=dev), torch.randn(shape, device=dev).abs()
    ids = R.prompt_ids(a.batch, cfg.text.context).to(dev)
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cuda):
            out = net(ct, pet, ids, target="pet", gen=torch.Generator().manual_seed(0))
        out["loss"].backward()
    total = counter.get_total_flops()
    by_op = {str(k): v for k, v in counter.get_flop_counts().get("Global", {}).items()}
    print(json.dumps({"flops_per_sample": total / a.batch, "batch": a.batch, "preset": a.preset, "method": a.method,
                      "tokens": cfg.num_tokens(), "by_op": by_op}), flush=True)


if __name__ == "__main__":
    main()
