"""FratMAE in plain PyTorch: the reference for bench/ (timing and numerical parity).

The same model as src/model/ (fratmae's C++), written the way a PyTorch user would write it:
nn.Modules, nn.Linear/nn.LayerNorm/nn.Conv3d, F.scaled_dot_product_attention where PyTorch
has it (>= 2.0) and the plain softmax(q k^T / sqrt(d)) v otherwise. Every parameter and buffer
has the name of the C++ module's named_parameters()/named_buffers(), so one safetensors file
loads into both. Presets, methods, masking contract and losses follow
src/model/{config,patch,attention,vit_encoder,decoder,text_encoder,context_align,fratmae}.cpp.
"""
import copy
import json
import math
from dataclasses import dataclass, field, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------------------------
# Configuration (src/model/config.cpp)

@dataclass
class EncoderConfig:
    dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0


@dataclass
class DecoderConfig:
    dim: int = 512
    depth: int = 8
    heads: int = 16
    mlp_ratio: float = 4.0


@dataclass
class TextConfig:
    vocab: int = 49408
    context: int = 77
    width: int = 512
    layers: int = 12
    heads: int = 8
    embed_dim: int = 512


METHODS = ("fratmae", "fratmae-noalign", "mae", "mae-align")


@dataclass
class ModelConfig:
    preset: str = "paper"
    method: str = "fratmae"
    input: list = field(default_factory=lambda: [32, 160, 192])
    patch: int = 16
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    text: TextConfig = field(default_factory=TextConfig)
    mask_ratio: float = 0.5
    norm_pix_loss: bool = False
    mask_draw: str = "step"
    temperature: float = 0.07
    align_weight: float = 1.0
    symmetric_align: bool = True

    def cross_decoder(self):
        return self.method in ("fratmae", "fratmae-noalign")

    def context_align(self):
        return self.method in ("fratmae", "mae-align")

    def grid(self):
        return [s // self.patch for s in self.input]

    def num_tokens(self):
        g = self.grid()
        return g[0] * g[1] * g[2]

    @staticmethod
    def preset_config(preset, method="fratmae"):
        if method not in METHODS:
            raise ValueError(f"unknown method '{method}' ({', '.join(METHODS)})")
        c = ModelConfig(preset=preset, method=method)
        if preset == "paper":
            pass
        elif preset == "small":
            c.input = [32, 80, 96]
            c.encoder = EncoderConfig(256, 6, 8, 4.0)
            c.decoder = DecoderConfig(192, 2, 6, 4.0)
            c.text = TextConfig(49408, 77, 256, 4, 4, 256)
        elif preset == "tiny":
            c.input = [16, 32, 48]
            c.patch = 8
            c.encoder = EncoderConfig(64, 2, 4, 2.0)
            c.decoder = DecoderConfig(48, 1, 4, 2.0)
            c.text = TextConfig(49408, 77, 32, 1, 2, 32)
        else:
            raise ValueError(f"unknown model preset '{preset}' (paper, small, tiny)")
        return c

    @staticmethod
    def from_json(j):
        """The JSON of ModelConfig::to_json (C++), e.g. from a safetensors file's metadata."""
        if isinstance(j, str):
            j = json.loads(j)
        c = ModelConfig.preset_config(j.get("preset", "paper"), j.get("method", "fratmae"))
        if "input" in j:
            c.input = list(j["input"])
        c.patch = j.get("patch", c.patch)
        if "encoder" in j:
            c.encoder = EncoderConfig(**{**asdict(c.encoder), **j["encoder"]})
        if "decoder" in j:
            c.decoder = DecoderConfig(**{**asdict(c.decoder), **j["decoder"]})
        if "text" in j:
            c.text = TextConfig(**{**asdict(c.text), **j["text"]})
        for k in ("mask_ratio", "norm_pix_loss", "mask_draw", "temperature", "align_weight", "symmetric_align"):
            if k in j:
                setattr(c, k, j[k])
        return c

    def to_json(self):
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Patches and positions (src/model/patch.cpp)

def patchify(x, p):
    """(B, C, H, W, D) -> (B, L, p^3 C), tokens in H, W, D raster order, patches as (ph, pw, pd, C)."""
    B, C, H, W, D = x.shape
    h, w, d = H // p, W // p, D // p
    return x.reshape(B, C, h, p, w, p, d, p).permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(B, h * w * d, p * p * p * C)


def _sincos_1d(n, dim):
    omega = 1.0 / torch.pow(10000.0, torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = torch.outer(torch.arange(n, dtype=torch.float64), omega)
    return torch.cat([out.sin(), out.cos()], 1).float()


def sincos_pos_embed_3d(g, dim):
    part = (dim // 3) // 2 * 2
    parts = (part, part, dim - 2 * part)
    eh = _sincos_1d(g[0], parts[0]).view(g[0], 1, 1, -1).expand(g[0], g[1], g[2], parts[0])
    ew = _sincos_1d(g[1], parts[1]).view(1, g[1], 1, -1).expand(g[0], g[1], g[2], parts[1])
    ed = _sincos_1d(g[2], parts[2]).view(1, 1, g[2], -1).expand(g[0], g[1], g[2], parts[2])
    return torch.cat([eh, ew, ed], 3).reshape(g[0] * g[1] * g[2], dim)


class PatchEmbed3d(nn.Module):
    def __init__(self, in_chans, dim, patch):
        super().__init__()
        self.proj = nn.Conv3d(in_chans, dim, patch, stride=patch)
        with torch.no_grad():
            nn.init.xavier_uniform_(self.proj.weight.view(dim, -1))
            nn.init.zeros_(self.proj.bias)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


# --------------------------------------------------------------------------------------------
# Attention and blocks (src/model/attention.cpp, src/core/torch_compat.h)

def scaled_dot_product_attention(q, k, v, is_causal=False):
    if hasattr(F, "scaled_dot_product_attention"):  # PyTorch >= 2.0: fused kernels
        return F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))
    if is_causal:
        tq, tk = q.size(-2), k.size(-2)
        causal = torch.ones(tq, tk, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(causal, float("-inf"))
    return torch.matmul(torch.softmax(scores, -1), v)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.kv_proj = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, ctx):
        B, Tq, C = x.shape
        Tk, hd = ctx.size(1), C // self.heads
        q = self.q_proj(x).view(B, Tq, self.heads, hd).transpose(1, 2)
        kv = self.kv_proj(ctx).view(B, Tk, 2, self.heads, hd).permute(2, 0, 3, 1, 4)
        out = scaled_dot_product_attention(q, kv[0], kv[1])
        return self.proj(out.transpose(1, 2).reshape(B, Tq, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        h = self.norm1(x)
        y = x + self.attn(h, h)
        return y + self.mlp(self.norm2(y))


class CrossBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attn = Attention(dim, heads)
        self.norm_q = nn.LayerNorm(dim, eps=1e-6)
        self.norm_kv = nn.LayerNorm(dim, eps=1e-6)
        self.cross_attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, context):
        h = self.norm1(x)
        y = x + self.self_attn(h, h)
        y = y + self.cross_attn(self.norm_q(y), self.norm_kv(context))
        return y + self.mlp(self.norm2(y))


def init_transformer_weights(m):
    """MAE's initialisation: xavier-uniform Linear weights, zero biases, unit LayerNorms."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Linear):
                nn.init.xavier_uniform_(mod.weight)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.LayerNorm):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)


# --------------------------------------------------------------------------------------------
# Encoder with MAE random masking (src/model/vit_encoder.cpp)

def random_masking(noise, ratio):
    """noise (B, L) -> mask (B, L; 1 = masked), ids_keep (B, L_keep), ids_restore (B, L)."""
    B, L = noise.shape
    keep = int(math.floor(L * (1.0 - ratio) + 0.5))  # std::llround
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :keep]
    mask = torch.ones(B, L, device=noise.device)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return mask, ids_keep, ids_restore


class ViTEncoder(nn.Module):
    def __init__(self, cfg, patch, grid, in_chans=1):
        super().__init__()
        self.dim = cfg.dim
        self.patch_embed = PatchEmbed3d(in_chans, cfg.dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.register_buffer("pos_embed", sincos_pos_embed_3d(grid, cfg.dim).unsqueeze(0))
        self.blocks = nn.ModuleList([Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        init_transformer_weights(self.blocks)
        nn.init.normal_(self.cls_token, 0.0, 0.02)

    def forward(self, x, mask_ratio=0.0, noise=None):
        t = self.patch_embed(x) + self.pos_embed
        B = t.size(0)
        masking = None
        if mask_ratio > 0:
            masking = random_masking(noise.to(t.device), mask_ratio)
            t = torch.gather(t, 1, masking[1].unsqueeze(-1).expand(-1, -1, self.dim))
        t = torch.cat([self.cls_token.expand(B, -1, -1), t], 1)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t), masking


# --------------------------------------------------------------------------------------------
# Decoders (src/model/decoder.cpp)

class Decoder(nn.Module):
    def __init__(self, cfg, encoder_dim, patch, grid, cross, in_chans=1):
        super().__init__()
        self.cross, self.dim = cross, cfg.dim
        self.embed = nn.Linear(encoder_dim, cfg.dim)
        if cross:
            self.context_embed = nn.Linear(encoder_dim, cfg.dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        pe = sincos_pos_embed_3d(grid, cfg.dim)
        self.register_buffer("pos_embed", torch.cat([torch.zeros(1, cfg.dim), pe], 0).unsqueeze(0))
        blk = CrossBlock if cross else Block
        self.blocks = nn.ModuleList([blk(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.pred = nn.Linear(cfg.dim, patch ** 3 * in_chans)
        init_transformer_weights(self)
        nn.init.normal_(self.mask_token, 0.0, 0.02)

    def forward(self, latent, ids_restore, context=None):
        x = self.embed(latent)
        B, L, keep = x.size(0), ids_restore.size(1), x.size(1) - 1
        masks = self.mask_token.expand(B, L - keep, self.dim)
        tokens = torch.cat([x[:, 1:1 + keep], masks], 1)
        tokens = torch.gather(tokens, 1, ids_restore.unsqueeze(-1).expand(-1, -1, self.dim))
        x = torch.cat([x[:, :1], tokens], 1) + self.pos_embed
        ctx = self.context_embed(context) if self.cross else None
        for blk in self.blocks:
            x = blk(x, ctx) if self.cross else blk(x)
        return self.pred(self.norm(x))[:, 1:1 + L]


# --------------------------------------------------------------------------------------------
# CLIP text tower, open_clip names (src/model/text_encoder.cpp)

class ClipAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.normal_(self.in_proj_weight, 0.0, width ** -0.5)

    def forward(self, x):
        B, T, C = x.shape
        hd = C // self.heads
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).view(B, T, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        out = scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(B, T, C))


class ClipMlp(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        h = self.c_fc(x)
        return self.c_proj(h * torch.sigmoid(1.702 * h))  # QuickGELU


class ResidualBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = ClipAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = ClipMlp(width)

    def forward(self, x):
        y = x + self.attn(self.ln_1(x))
        return y + self.mlp(self.ln_2(y))


class TextTransformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualBlock(width, heads) for _ in range(layers)])

    def forward(self, x):
        for b in self.resblocks:
            x = b(x)
        return x


class TextEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c.vocab, c.width)
        self.positional_embedding = nn.Parameter(torch.empty(c.context, c.width))
        self.transformer = TextTransformer(c.width, c.layers, c.heads)
        self.ln_final = nn.LayerNorm(c.width)
        self.text_projection = nn.Parameter(torch.empty(c.width, c.embed_dim))
        nn.init.normal_(self.token_embedding.weight, 0.0, 0.02)
        nn.init.normal_(self.positional_embedding, 0.0, 0.01)
        nn.init.normal_(self.text_projection, 0.0, c.width ** -0.5)

    def forward(self, ids):
        T = ids.size(1)
        x = self.token_embedding(ids) + self.positional_embedding[:T]
        x = self.ln_final(self.transformer(x))
        eot = ids.argmax(1)
        pooled = x[torch.arange(ids.size(0), device=ids.device), eot]
        return pooled @ self.text_projection


# --------------------------------------------------------------------------------------------
# ContextAlign (src/model/context_align.cpp)

def info_nce(z_a, z_b, log_inv_tau, symmetric):
    a = F.normalize(z_a, dim=1)
    b = F.normalize(z_b, dim=1)
    logits = (a @ b.t()) * log_inv_tau.clamp_max(math.log(100.0)).exp()
    target = torch.arange(a.size(0), device=a.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.t(), target))
    return loss


class ContextAlign(nn.Module):
    def __init__(self, image_dim, embed_dim, temperature, symmetric):
        super().__init__()
        self.symmetric = symmetric
        self.pet_proj = nn.Linear(image_dim, embed_dim, bias=False)
        self.log_inv_tau = nn.Parameter(torch.full((), math.log(1.0 / temperature)))

    def forward(self, pet_cls, text):
        return info_nce(self.pet_proj(pet_cls), text, self.log_inv_tau, self.symmetric)


# --------------------------------------------------------------------------------------------
# FratMAE (src/model/fratmae.cpp)

def masked_squared_error(pred, target, mask, norm_pix):
    """Eq. 3: squared error summed over masked tokens, and the number of masked tokens."""
    if norm_pix:
        mean, var = target.mean(-1, keepdim=True), target.var(-1, unbiased=True, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_token = (pred - target).square().mean(-1)
    return (per_token * mask).sum(), mask.sum()


class FratMae(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = copy.deepcopy(cfg)
        grid = cfg.grid()
        self.pet_encoder = ViTEncoder(cfg.encoder, cfg.patch, grid)
        self.ct_encoder = ViTEncoder(cfg.encoder, cfg.patch, grid)
        cross = cfg.cross_decoder()
        self.pet_decoder = Decoder(cfg.decoder, cfg.encoder.dim, cfg.patch, grid, cross)
        self.ct_decoder = Decoder(cfg.decoder, cfg.encoder.dim, cfg.patch, grid, cross)
        if cfg.context_align():
            self.text_encoder = TextEncoder(cfg.text)
            self.align = ContextAlign(cfg.encoder.dim, cfg.text.embed_dim, cfg.temperature, cfg.symmetric_align)

    def forward(self, ct, pet, text_ids, target=None, gen=None, noise=None):
        """target: None (draw), "pet" or "ct", or a list of booleans (True = PET masked) per sample.
        gen: CPU torch.Generator for the draws, consumed in the C++ order (same values for the same
        seed). noise: (B, L) masking noise (FratMAE) or a pair (PET, CT) for MAE; drawn when None.
        Returns a dict: loss, mse, align (None without ContextAlign), mask_pet, mask_ct, target_is_pet."""
        cfg = self.cfg
        B, L = pet.size(0), cfg.num_tokens()
        opts = dict(dtype=pet.dtype, device=pet.device)

        def draw():
            return torch.rand(1, generator=gen).item()

        def draw_noise():
            return torch.rand(B, L, generator=gen).to(pet.device)

        out = {"align": None}
        if cfg.cross_decoder():
            if isinstance(target, (list, tuple)):
                is_pet = [bool(t) for t in target]
            elif target in ("pet", "ct"):
                is_pet = [target == "pet"] * B
            elif cfg.mask_draw == "step":
                is_pet = [draw() < 0.5] * B
            else:
                is_pet = [draw() < 0.5 for _ in range(B)]
            if noise is None:
                noise = draw_noise()
            noise = noise.to(pet.device)
            sq_err = torch.zeros((), **opts)
            count = torch.zeros((), **opts)
            out["mask_pet"] = torch.zeros(B, L, **opts)
            out["mask_ct"] = torch.zeros(B, L, **opts)
            out["target_is_pet"] = torch.tensor(is_pet, dtype=torch.bool)
            pet_cls = torch.zeros(B, cfg.encoder.dim, **opts)
            for target_pet in (True, False):
                idx = [b for b in range(B) if is_pet[b] == target_pet]
                if not idx:
                    continue
                sel = torch.tensor(idx, dtype=torch.long, device=pet.device)
                x_s = (pet if target_pet else ct).index_select(0, sel)
                x_o = (ct if target_pet else pet).index_select(0, sel)
                enc_s = self.pet_encoder if target_pet else self.ct_encoder
                enc_o = self.ct_encoder if target_pet else self.pet_encoder
                zs, masking = enc_s(x_s, cfg.mask_ratio, noise.index_select(0, sel))
                zo, _ = enc_o(x_o, 0.0)
                dec = self.pet_decoder if target_pet else self.ct_decoder
                pred = dec(zs, masking[2], zo)
                e, n = masked_squared_error(pred, patchify(x_s, cfg.patch), masking[0], cfg.norm_pix_loss)
                sq_err = sq_err + e
                count = count + n
                out["mask_pet" if target_pet else "mask_ct"].index_copy_(0, sel, masking[0])
                cls = (zs if target_pet else zo)[:, 0]
                pet_cls = pet_cls.index_copy(0, sel, cls.to(pet_cls.dtype))
            out["mse"] = sq_err / count.clamp_min(1)
        else:
            if noise is None:
                noise = (draw_noise(), draw_noise())
            zp, mp = self.pet_encoder(pet, cfg.mask_ratio, noise[0])
            zc, mc = self.ct_encoder(ct, cfg.mask_ratio, noise[1])
            pp = self.pet_decoder(zp, mp[2])
            pc = self.ct_decoder(zc, mc[2])
            ep, np_ = masked_squared_error(pp, patchify(pet, cfg.patch), mp[0], cfg.norm_pix_loss)
            ec, nc = masked_squared_error(pc, patchify(ct, cfg.patch), mc[0], cfg.norm_pix_loss)
            out["mse"] = 0.5 * (ep / np_.clamp_min(1) + ec / nc.clamp_min(1))
            out["mask_pet"], out["mask_ct"] = mp[0], mc[0]
            pet_cls = zp[:, 0]
        out["loss"] = out["mse"]
        if cfg.context_align():
            out["align"] = self.align(pet_cls, self.text_encoder(text_ids))
            out["loss"] = out["loss"] + cfg.align_weight * out["align"]
        return out


def param_groups(model, weight_decay):
    """AdamW groups as src/train/pretrainer.cpp: decay on matrices only (not on biases, norms,
    tokens or the temperature)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        matrix = p.dim() >= 2 and "token" not in name and "positional_embedding" not in name
        (decay if matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def prompt_ids(B, T=77):
    """Deterministic CLIP-like token rows: start, two tokens, end of text, zero padding."""
    ids = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        ids[b, 0], ids[b, 1], ids[b, 2], ids[b, 3] = 49406, 300 + b, 1000 + 7 * b, 49407
    return ids
