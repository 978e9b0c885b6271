"""Reads the log of bench/device/gpu_bench.sh and writes the summary table (markdown):
step times and throughput of fratmae, the PyTorch reference eager and compiled, their ratios,
peak GPU memory, model FLOP utilisation against the measured bf16 rate, the engine's
throughput with its data path, and the paper's pre-training projected from it.

    summarize.py LOG SUMMARY.md
"""
import json
import re
import sys

PAPER_SAMPLES = 1292 * 30  # the paper's pre-training: 1,292 studies x 30 epochs


def sections(text):
    """{tag: (lines, mem_mib or None, rc or None)} from '== tag:' ... 'RC tag rc' blocks."""
    out, tag, lines = {}, None, []
    mem = {}
    for line in text.splitlines():
        m = re.match(r"== (\S+): ", line)
        if m:
            tag, lines = m.group(1), []
            continue
        m = re.match(r"MEM (\S+) (\d+)", line)
        if m:
            mem[m.group(1)] = int(m.group(2))
            continue
        m = re.match(r"RC (\S+) (-?\d+)", line)
        if m:
            out[m.group(1)] = {"lines": lines, "rc": int(m.group(2))}
            tag = None
            continue
        if tag:
            lines.append(line)
    for t, v in out.items():
        v["mem"] = mem.get(t)
    return out


def json_lines(lines):
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                pass


def step_time(lines):
    for line in lines:
        m = re.search(r"median ([0-9.]+) ms/step.*?([0-9.]+) samples/s", line)
        if m:
            return float(m.group(1)), float(m.group(2))
    return None


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def main():
    log, dest = sys.argv[1], sys.argv[2]
    text = open(log).read()
    s = sections(text)
    peak = flops = None
    device_name = "?"
    if "peak" in s:
        for j in json_lines(s["peak"]["lines"]):
            if "peak_tflops" in j:
                peak, device_name = j["peak_tflops"], j.get("device_name", "?")
            if "flops_per_sample" in j:
                flops = j["flops_per_sample"]
    batches = sorted({int(t.rsplit("-", 1)[1]) for t in s if t.startswith("step-")})
    md = [f"# GPU benchmark summary ({device_name})", ""]
    md.append(f"Measured dense bf16 matrix rate: {fmt(peak)} TFLOP/s; FLOPs per pre-training sample (forward + "
              f"backward, counted once on the reference): {fmt(flops / 1e9 if flops else None)} GFLOP.")
    md.append("")
    md.append("| batch | impl | ms/step | samples/s | peak GPU MiB | MFU | fratmae speed-up |")
    md.append("|---|---|---|---|---|---|---|")
    best = {}
    for b in batches:
        rows = {}
        for impl in ("fratmae", "eager", "compile"):
            sec = s.get(f"step-{impl}-{b}")
            st = step_time(sec["lines"]) if sec else None
            rows[impl] = (st, sec["mem"] if sec else None, sec["rc"] if sec else None)
        f = rows["fratmae"][0]
        for impl, (st, mem, rc) in rows.items():
            if st is None:
                md.append(f"| {b} | {impl} | failed or not run (rc {rc}) | | | | |")
                continue
            ms, sps = st
            mfu = flops * sps / (peak * 1e12) if (flops and peak) else None
            speed = f[1] / sps if (f and impl != "fratmae") else None
            md.append(f"| {b} | {impl} | {ms:.1f} | {sps:.1f} | {fmt(mem, 'd') if mem else '-'} | "
                      f"{fmt(mfu * 100 if mfu else None)}% | {fmt(speed, '.2f') + 'x' if speed else ''} |")
            best.setdefault(impl, 0.0)
            best[impl] = max(best[impl], sps)
    md.append("")
    md.append("Pre-training engine with its data path (pretrain_gpu: phantom cache, steps 11-30):")
    md.append("")
    md.append("| run | samples/s | peak GPU MiB | projected paper pre-training (1,292 x 30 samples) |")
    md.append("|---|---|---|---|")
    best_pipeline = 0.0
    for tag in sorted(t for t in s if t.startswith("pipeline-")):
        rates = [j["samples_per_s"] for j in json_lines(s[tag]["lines"]) if "samples_per_s" in j and j.get("step", 0) > 10]
        if not rates:
            md.append(f"| {tag} | failed or too short (rc {s[tag]['rc']}) | | |")
            continue
        r = sum(rates) / len(rates)
        best_pipeline = max(best_pipeline, r)
        md.append(f"| {tag} | {r:.1f} | {fmt(s[tag]['mem'], 'd') if s[tag]['mem'] else '-'} | "
                  f"{PAPER_SAMPLES / r / 60:.1f} min |")
    if "infer" in s:
        md += ["", "Sliding-window segmentation (bench/infer_vs_pytorch.sh):", ""]
        md += [ln for ln in s["infer"]["lines"] if ln.startswith("|") or ln.startswith("fratmae/pytorch")
               or ln.startswith("parity") or ln.startswith("volume")]
    md += ["", "Goals (issue #8):", ""]
    if best.get("fratmae") and best.get("eager"):
        md.append(f"- >= 1.3x PyTorch eager bf16: {best['fratmae'] / best['eager']:.2f}x (best batch each)")
    if best.get("fratmae") and best.get("compile"):
        md.append(f"- >= torch.compile: {best['fratmae'] / best['compile']:.2f}x")
    if best.get("fratmae") and flops and peak:
        md.append(f"- MFU >= 45%: {100 * flops * best['fratmae'] / (peak * 1e12):.1f}% (synthetic-input step)")
    if best_pipeline:
        md.append(f"- paper pre-training <= 5 min: {PAPER_SAMPLES / best_pipeline / 60:.1f} min at {best_pipeline:.1f} samples/s "
                  f"(engine with data path)")
    open(dest, "w").write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
