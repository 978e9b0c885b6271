"""Minimal safetensors reader/writer for the reference (no `safetensors` package needed).

Same format and layout as src/core/safetensors.h: 8-byte little-endian header size, compact
JSON header (optional "__metadata__" first), tensors in the data buffer ordered by dtype
(widest first, the reference library's order) then by name, header padded with spaces to a
multiple of 8 bytes.
"""
import json
import struct

import torch

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}
_ORDER = ["I64", "F64", "F32", "I32", "BF16", "F16", "I16", "I8", "U8", "BOOL"]


def load(path):
    """Returns (tensors: dict name -> CPU tensor, metadata: dict str -> str)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    buf = memoryview(data)[8 + n:]
    out = {}
    for name, e in header.items():
        dtype = _DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        shape = e["shape"]
        if end > b:
            t = torch.frombuffer(bytearray(buf[b:end]), dtype=dtype)
        else:
            t = torch.empty(0, dtype=dtype)
        out[name] = t.reshape(shape).clone()
    return out, meta


def save(path, tensors, metadata=None):
    items = []
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        items.append((_ORDER.index(_NAMES[t.dtype]), name.encode("utf-8"), name, t))
    items.sort(key=lambda x: (x[0], x[1]))
    header = {}
    if metadata:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    offset = 0
    blobs = []
    for _, _, name, t in items:
        raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
