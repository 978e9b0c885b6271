"""Lesion segmentation in plain PyTorch: the reference for bench/infer_vs_pytorch.sh.

SegmentationNet is src/model/unetr.cpp's network written the way a PyTorch user writes it
(nn.Conv3d, nn.InstanceNorm3d, nn.ConvTranspose3d; the ViT encoders of fratmae_ref.py), with
the C++ module's parameter names, so one safetensors file loads into both.
sliding_window_inference is what MONAI's function of that name does, specialised to this model:
windows placed by nnU-Net's rule (the same starts as src/infer/sliding_window.cpp), Gaussian
importance weights, and full-volume float accumulators for the weighted sum and the weights
(MONAI keeps both as whole-volume tensors), divided at the end and thresholded.

Usage (bench/infer_vs_pytorch.sh runs it):
  segmentation_ref.py --dir DIR [--threads N] [--device cpu|cuda] [--bf16] [--batch B] [--compare]
DIR holds weights.safetensors and volume.safetensors from bench/sliding_window_bench (--out);
with --compare also result.safetensors, and the probability maps are compared.
Prints one JSON line like the C++ program's.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fratmae_ref as ref  # noqa: E402
import safetensors_io  # noqa: E402

FOREGROUND_PRIOR = 0.01


def skip_layers(depth):
    """0-based encoder blocks feeding the skips and the bottleneck (unetr.cpp skip_layers)."""
    return [max(1, int(math.floor(depth * q / 4.0 + 0.5))) - 1 for q in (1, 2, 3, 4)]


class ConvBlock(nn.Module):
    """Two 3x3x3 convolutions with instance norm and leaky ReLU, plus a residual."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, padding=1, bias=False)
        self.norm1 = nn.InstanceNorm3d(cout, affine=True)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = nn.InstanceNorm3d(cout, affine=True)
        if cin != cout:
            self.skip = nn.Conv3d(cin, cout, 1, bias=False)
            self.norm_skip = nn.InstanceNorm3d(cout, affine=True)
        else:
            self.skip = None

    def forward(self, x):
        y = F.leaky_relu(self.norm1(self.conv1(x)), 0.01)
        y = self.norm2(self.conv2(y))
        r = self.norm_skip(self.skip(x)) if self.skip is not None else x
        return F.leaky_relu(y + r, 0.01)


class UpProject(nn.Module):
    def __init__(self, cin, cout, n_up):
        super().__init__()
        self.ups = nn.ModuleList([nn.ConvTranspose3d(cin if i == 0 else cout, cout, 2, stride=2, bias=False)
                                  for i in range(n_up)])
        self.blocks = nn.ModuleList([ConvBlock(cout, cout) for _ in range(n_up - 1)])

    def forward(self, x):
        for i, up in enumerate(self.ups):
            x = up(x)
            if i < len(self.blocks):
                x = self.blocks[i](x)
        return x


class UpBlock(nn.Module):
    def __init__(self, cin, cout, skip_channels):
        super().__init__()
        self.up = nn.ConvTranspose3d(cin, cout, 2, stride=2, bias=False)
        self.block = ConvBlock(cout + skip_channels, cout)

    def forward(self, x, skip):
        return self.block(torch.cat([self.up(x), skip], 1))


class DownBlock(nn.Module):
    """A stride-2 3x3x3 convolution, instance norm, leaky ReLU, then a conv block."""

    def __init__(self, cin, cout):
        super().__init__()
        self.down = nn.Conv3d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.norm = nn.InstanceNorm3d(cout, affine=True)
        self.block = ConvBlock(cout, cout)

    def forward(self, x):
        return self.block(F.leaky_relu(self.norm(self.down(x)), 0.01))


def encode_with_hidden(enc, x):
    """ViT encoder without masking: (final tokens after the norm, every block's output before it)."""
    t = enc.patch_embed(x) + enc.pos_embed
    t = torch.cat([enc.cls_token.expand(t.size(0), -1, -1), t], 1)
    hidden = []
    for blk in enc.blocks:
        t = blk(t)
        hidden.append(t)
    return enc.norm(t), hidden


def tokens_to_grid(t, g):
    B, C = t.size(0), t.size(2)
    return t[:, 1:].transpose(1, 2).reshape(B, C, g[0], g[1], g[2])


class SegmentationNet(nn.Module):
    def __init__(self, cfg, feature_size=16, classes=2, conv_encoder=False):
        super().__init__()
        self.cfg = cfg
        self.levels = {2: 1, 4: 2, 8: 3, 16: 4}[cfg.patch]
        g = cfg.grid()
        self.pet_encoder = ref.ViTEncoder(cfg.encoder, cfg.patch, g)
        self.ct_encoder = ref.ViTEncoder(cfg.encoder, cfg.patch, g)
        c2 = 2 * cfg.encoder.dim
        n = self.levels
        ch = [feature_size << level for level in range(n + 1)]
        self.input_block = ConvBlock(2, ch[0])
        # The convolutional encoder (conv_encoder): levels 1..n from the input block, joined to
        # every coarse skip and to the bottleneck.
        self.down_blocks = nn.ModuleList([DownBlock(ch[level - 1], ch[level]) for level in range(1, n + 1)]) \
            if conv_encoder else None
        k = 1 if conv_encoder else 0
        self.skip_projections = nn.ModuleList([UpProject(c2, ch[level], n - level) for level in range(n - 1, 0, -1)])
        self.up_blocks = nn.ModuleList([UpBlock(c2 + k * ch[n] if level == n - 1 else ch[level + 1], ch[level],
                                                ch[0] if level == 0 else (1 + k) * ch[level])
                                        for level in range(n - 1, -1, -1)])
        self.head = nn.Conv3d(ch[0], classes, 1)
        with torch.no_grad():
            self.head.bias.zero_()
            self.head.bias[1:] = math.log(FOREGROUND_PRIOR / (1 - FOREGROUND_PRIOR))

    def forward(self, ct, pet):
        g = self.cfg.grid()
        lp, hp = encode_with_hidden(self.pet_encoder, pet)
        lc, hc = encode_with_hidden(self.ct_encoder, ct)
        layers = skip_layers(self.cfg.encoder.depth)
        x = tokens_to_grid(torch.cat([lp, lc], 2), g)
        n = self.levels
        conv = [self.input_block(torch.cat([ct, pet], 1))]
        if self.down_blocks is not None:
            for down in self.down_blocks:
                conv.append(down(conv[-1]))
            x = torch.cat([x, conv[-1]], 1)
        for i, level in enumerate(range(n - 1, -1, -1)):
            if level == 0:
                skip = conv[0]
            else:
                j = n - level
                layer = layers[3 - j]
                skip = self.skip_projections[i](tokens_to_grid(torch.cat([hp[layer], hc[layer]], 2), g))
                if self.down_blocks is not None:
                    skip = torch.cat([skip, conv[level]], 1)
            x = self.up_blocks[i](x, skip)
        return self.head(x)

    def foreground_probability(self, ct, pet):
        logits = self.forward(ct, pet).float()
        return torch.softmax(logits, 1)[:, -1]


# --------------------------------------------------------------------------------------------
# Sliding-window inference

def window_starts(length, window, overlap):
    """nnU-Net's placement (src/infer/sliding_window.cpp window_starts)."""
    if length <= window:
        return [0]
    step = max(1.0, math.floor(window * (1.0 - overlap)))
    n = int(math.ceil((length - window) / step)) + 1
    actual = (length - window) / (n - 1)
    return [int(math.floor(actual * i + 0.5)) for i in range(n)]


def gaussian_importance(window, sigma_scale=0.125):
    g = None
    for a, w in enumerate(window):
        c, sigma = (w - 1) / 2.0, sigma_scale * w
        x = torch.arange(w, dtype=torch.float64)
        g1 = torch.exp(-(x - c) ** 2 / (2 * sigma * sigma))
        shape = [1, 1, 1]
        shape[a] = w
        g1 = g1.reshape(shape)
        g = g1 if g is None else g * g1
    g = g / g.max()
    return g.clamp_min(max(1e-3, g.min().item())).float()


@torch.no_grad()
def sliding_window_inference(ct, pet, predict, window, overlap=0.5, batch=4, threshold=0.5, device="cpu"):
    """ct, pet (H, W, D) float -> (mask uint8, probability float, windows). Axes shorter than the
    window are padded (CT -1, PET 0) and cropped back."""
    shape = list(ct.shape)
    padded = [max(s, w) for s, w in zip(shape, window)]
    if padded != shape:
        pad = [0, padded[2] - shape[2], 0, padded[1] - shape[1], 0, padded[0] - shape[0]]
        ct = F.pad(ct, pad, value=-1.0)
        pet = F.pad(pet, pad, value=0.0)
    ct, pet = ct.to(device), pet.to(device)
    starts = [window_starts(padded[a], window[a], overlap) for a in range(3)]
    origins = [(h, w, d) for h in starts[0] for w in starts[1] for d in starts[2]]
    gauss = gaussian_importance(window).to(device)
    acc = torch.zeros(padded, device=device)
    wsum = torch.zeros(padded, device=device)
    h_, w_, d_ = window
    for b0 in range(0, len(origins), batch):
        chunk = origins[b0:b0 + batch]
        cb = torch.stack([ct[h:h + h_, w:w + w_, d:d + d_] for h, w, d in chunk]).unsqueeze(1)
        pb = torch.stack([pet[h:h + h_, w:w + w_, d:d + d_] for h, w, d in chunk]).unsqueeze(1)
        prob = predict(cb, pb).float()
        for k, (h, w, d) in enumerate(chunk):
            acc[h:h + h_, w:w + w_, d:d + d_] += prob[k] * gauss
            wsum[h:h + h_, w:w + w_, d:d + d_] += gauss
    probability = (acc / wsum.clamp_min(1e-12))[:shape[0], :shape[1], :shape[2]]
    return (probability > threshold).to(torch.uint8).cpu(), probability.cpu(), len(origins)


def proc_status_mib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--batch", type=int, default=0, help="windows per pass (0: the C++ run's)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network (PyTorch >= 2)")
    ap.add_argument("--compare", action="store_true", help="compare with DIR/result.safetensors")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    weights, meta = safetensors_io.load(os.path.join(args.dir, "weights.safetensors"))
    cfg = ref.ModelConfig.from_json(meta["config"])
    net = SegmentationNet(cfg, int(meta["feature_size"]), conv_encoder=meta.get("conv_encoder", "0") == "1")
    net.load_state_dict(weights, strict=True)  # names and shapes must match exactly
    net.eval().to(args.device)
    vol, vmeta = safetensors_io.load(os.path.join(args.dir, "volume.safetensors"))
    overlap = float(vmeta["overlap"])
    batch = args.batch or int(vmeta["batch"])
    model = torch.compile(net) if args.compile else net

    def predict(c, p):  # SegmentationNet.foreground_probability through the (compiled) model
        with torch.autocast(device_type=torch.device(args.device).type, dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(c, p)
        return torch.softmax(logits.float(), 1)[:, -1]

    rss_before = proc_status_mib("VmRSS")
    t0 = time.perf_counter()
    mask, prob, windows = sliding_window_inference(vol["ct"], vol["pet"], predict, cfg.input, overlap, batch,
                                                   device=args.device)
    if torch.device(args.device).type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    out = {"impl": "pytorch", "preset": cfg.preset, "shape": list(vol["ct"].shape), "window": cfg.input,
           "device": args.device, "threads": torch.get_num_threads(), "torch": torch.__version__,
           "seconds": seconds, "windows": windows, "windows_per_s": windows / seconds,
           "foreground_voxels": int(mask.sum()), "rss_before_mib": rss_before,
           "peak_rss_mib": proc_status_mib("VmHWM")}
    if args.compare:
        res, _ = safetensors_io.load(os.path.join(args.dir, "result.safetensors"))
        if "probability" in res:
            diff = (res["probability"] - prob).abs()
            out["max_abs_prob_diff"] = float(diff.max())
        out["mask_disagreements"] = int((res["mask"] != mask).sum())
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
