"""Simulated quantization (quantize, then dequantize), in place, tensor by tensor, vectorized over blocks.

Weights: asymmetric min-max round-to-nearest per block. Blocks are contiguous runs of the row-major flattened
tensor (the official code's "128x128" = 16,384 consecutive elements), or 2-D tiles (rows x cols). A tensor whose
size is not a multiple of the block is handled explicitly: the last block is shorter (padding never counts).
Activations (W8A8): SmoothQuant-style fake quantization, weights 8-bit symmetric per tensor, activations 8-bit
symmetric per token on the inputs of the q/k/v/gate/up/down projections."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .adapters import _getattr_path as _get, get_adapter

log = logging.getLogger(__name__)

WEIGHT_METHODS = ("rtn", "clip", "sw_aware", "rtn_keep_sw")
ACT_METHODS = ("naive", "sa_aware", "smoothquant")


@dataclass(frozen=True)
class BlockSpec:
    """``size`` elements of the flattened tensor; or ``rows`` x ``cols`` tiles; or per_channel / per_tensor."""

    kind: str  # "flat" | "tile" | "per_channel" | "per_tensor"
    size: int = 0
    rows: int = 0
    cols: int = 0

    @classmethod
    def parse(cls, text: str | int) -> "BlockSpec":
        s = str(text)
        if s in ("per_channel", "per_tensor"):
            return cls(s)
        if "x" in s:
            r, c = (int(v) for v in s.split("x"))
            return cls("tile", rows=r, cols=c)
        return cls("flat", size=int(s))

    def __str__(self):
        return {"flat": str(self.size), "tile": f"{self.rows}x{self.cols}"}.get(self.kind, self.kind)


def _blocks(w: torch.Tensor, spec: BlockSpec):
    """(blocks (n_blocks, block_len) with NaN padding, inverse function back to w's shape)."""
    rows, cols = w.shape
    if spec.kind == "per_tensor":
        return w.reshape(1, -1), lambda b: b.reshape(rows, cols)
    if spec.kind == "per_channel":  # one block per output channel (row of the nn.Linear weight)
        return w, lambda b: b
    if spec.kind == "flat":
        n, size = w.numel(), spec.size
        pad = (-n) % size
        flat = F.pad(w.reshape(-1), (0, pad), value=math.nan)
        return flat.view(-1, size), lambda b: b.reshape(-1)[:n].view(rows, cols)
    r, c = spec.rows, spec.cols
    pr, pc = (-rows) % r, (-cols) % c
    x = F.pad(w, (0, pc, 0, pr), value=math.nan)
    R, C = x.shape
    tiles = x.view(R // r, r, C // c, c).permute(0, 2, 1, 3).reshape(-1, r * c)

    def back(b):
        return b.view(R // r, C // c, r, c).permute(0, 2, 1, 3).reshape(R, C)[:rows, :cols]

    return tiles, back


def rtn(blocks: torch.Tensor, bits: int) -> torch.Tensor:
    """Asymmetric min-max round-to-nearest per row of ``blocks`` (NaN = padding, kept NaN)."""
    levels = 2 ** bits - 1
    valid = ~torch.isnan(blocks)
    lo = torch.where(valid, blocks, torch.full_like(blocks, math.inf)).amin(1, keepdim=True)
    hi = torch.where(valid, blocks, torch.full_like(blocks, -math.inf)).amax(1, keepdim=True)
    scale = ((hi - lo) / levels).clamp_min(1e-12)
    q = torch.clamp(torch.round((blocks - lo) / scale), 0, levels)
    return q * scale + lo


def clip(blocks: torch.Tensor, z: float) -> torch.Tensor:
    """Clip |W| above z * std(|W|) + mean(|W|) per block (sign kept)."""
    valid = ~torch.isnan(blocks)
    a = torch.where(valid, blocks.abs(), torch.zeros_like(blocks))
    n = valid.sum(1, keepdim=True).clamp_min(1)
    mean = a.sum(1, keepdim=True) / n
    var = (torch.where(valid, (a - mean) ** 2, torch.zeros_like(a))).sum(1, keepdim=True) / n
    bound = z * var.sqrt() + mean
    return torch.where(valid, blocks.clamp(-bound, bound), blocks)


def quantize_tensor(w: torch.Tensor, bits: int, spec: BlockSpec, z: float | None = None) -> torch.Tensor:
    """Quantize-dequantize one weight (rows = output channels), optionally clipping first; returns float32."""
    blocks, back = _blocks(w.detach().float(), spec)
    if z is not None:
        blocks = clip(blocks, z)
    return back(rtn(blocks, bits))


def quantize_weights(model: nn.Module, method: str, bits: int, block: str | int, z: float = 9.0,
                     sws: list[tuple[int, int, int]] = (), progress: bool = True) -> list[dict]:
    """Quantize every decoder linear weight in place; per tensor, the relative reconstruction error."""
    from tqdm.auto import tqdm

    if method not in WEIGHT_METHODS:
        raise ValueError(f"unknown weight quantization method {method!r}; use one of {', '.join(WEIGHT_METHODS)}")
    if method in ("sw_aware", "rtn_keep_sw") and not sws:
        raise ValueError(f"{method} needs confirmed super weights; detection confirmed none")
    spec = BlockSpec.parse(block)
    a = get_adapter(model)
    keep = {}
    if method in ("sw_aware", "rtn_keep_sw"):
        for l, r, c in sws:
            keep[(l, r, c)] = a.down_proj(model, l).weight[a._index(r, c)].detach().clone()
    records = []
    mods = list(a.linear_modules(model))
    for name, mod, transposed in tqdm(mods, desc=f"{method} int{bits} {spec}", disable=not progress, mininterval=5):
        w = mod.weight.data
        w_lin = w.t() if transposed else w  # blocks follow the nn.Linear (out, in) row-major layout
        q = quantize_tensor(w_lin, bits, spec, z if method in ("clip", "sw_aware") else None)
        err = float((q - w_lin.float()).norm() / w_lin.float().norm().clamp_min(1e-12))
        mod.weight.data.copy_((q.t() if transposed else q).to(w.dtype))
        records.append({"tensor": name, "numel": w.numel(), "rel_error": err})
    for (l, r, c), v in keep.items():
        a.set_weight(model, l, r, c, v)
        if a.down_proj(model, l).weight[a._index(r, c)] != v:
            raise RuntimeError(f"super weight {(l, r, c)} was not restored")
        log.info("kept super weight layer %d [%d, %d] = %.6g in full precision", l, r, c, float(v))
    log.info("%s int%d block %s: mean relative error %.4g over %d tensors", method, bits, spec,
             sum(r["rel_error"] for r in records) / max(len(records), 1), len(records))
    return records


# --- activations: W8A8 -------------------------------------------------------------------------------------

def fake_quant_per_token(x: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Symmetric absmax per token (last dim = features)."""
    qmax = 2 ** (bits - 1) - 1
    s = (x.abs().amax(-1, keepdim=True) / qmax).clamp_min(1e-12)
    return torch.clamp(torch.round(x / s), -qmax, qmax) * s


def fake_quant_per_tensor(w: torch.Tensor, bits: int = 8) -> torch.Tensor:
    qmax = 2 ** (bits - 1) - 1
    s = (w.abs().max() / qmax).clamp_min(1e-12)
    return torch.clamp(torch.round(w / s), -qmax, qmax) * s


def quantize_with_sa(x: torch.Tensor, channel: int, bits: int = 8) -> torch.Tensor:
    """Per-token quantization with the super activation kept: in ``channel``, the element of largest |value|
    (per sequence) is replaced by the tensor's median before quantizing and put back, exactly, after."""
    flat = x.reshape(-1, x.shape[-1]) if x.dim() == 2 else None
    x3 = x if x.dim() == 3 else x[None]
    b = torch.arange(x3.shape[0], device=x.device)
    t = x3[..., channel].abs().argmax(-1)
    sa = x3[b, t, channel].clone()
    y = x3.clone()
    y[b, t, channel] = x3.median()
    y = fake_quant_per_token(y, bits)
    y[b, t, channel] = sa
    return y if flat is None else y[0]


def _act_modules(model):
    """(layer index, path, module) of the projections whose inputs W8A8 quantizes (named by the adapter)."""
    a = get_adapter(model)
    for i, layer in enumerate(a.layers(model)):
        for path in a.act_inputs:
            yield i, path, _get(layer, path)


class W8A8:
    """Fake-quantize weights (in place) and activations (forward pre-hooks). ``sa_channels`` maps
    (layer, module name) -> input channel holding the super activation, kept in full precision."""

    def __init__(self, model: nn.Module, bits: int = 8, sa_channels: dict | None = None):
        self.model, self.bits, self.sa = model, bits, sa_channels or {}
        self.handles = []

    def __enter__(self):
        for i, name, mod in _act_modules(self.model):
            with torch.no_grad():
                mod.weight.copy_(fake_quant_per_tensor(mod.weight.float(), self.bits).to(mod.weight.dtype))
            ch = self.sa.get((i, name))
            self.handles.append(mod.register_forward_pre_hook(self._hook(ch)))
        return self

    def _hook(self, ch):
        def fn(mod, args):
            x = args[0]
            y = fake_quant_per_token(x.float(), self.bits) if ch is None else quantize_with_sa(x.float(), ch, self.bits)
            return (y.to(x.dtype), *args[1:])
        return fn

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []


def sa_channels(model: nn.Module, sws: list[tuple[int, int, int]]) -> dict:
    """Where the super activation enters a quantized input: the down projection's input channel ``col`` in the
    super weight's layer, and residual channel ``row`` in every input read from the residual stream after it."""
    a = get_adapter(model)
    readers = a.residual_readers()
    out = {}
    for l, r, c in sws:
        out[(l, a.down_path)] = c
        for i in range(l + 1, len(a.layers(model))):
            for path in readers:
                out.setdefault((i, path), r)
    return out


# --- SmoothQuant -------------------------------------------------------------------------------------------

@torch.no_grad()
def activation_absmax(model: nn.Module, ids: torch.Tensor, seqlen: int, n_windows: int) -> dict:
    """Per-channel max |input| of each smoothed norm's output, from calibration windows."""
    a = get_adapter(model)
    groups = a.smooth_groups
    if not groups:
        raise ValueError(f"SmoothQuant does not apply to the {a.family} family (its norms cannot absorb the scales)")
    stats, handles = {}, []
    for i, layer in enumerate(a.layers(model)):
        for norm, _ in groups:
            def hook(mod, inp, out, key=(i, norm)):
                m = out.detach().abs().reshape(-1, out.shape[-1]).amax(0).float()
                stats[key] = torch.maximum(stats[key], m) if key in stats else m
            handles.append(_get(layer, norm).register_forward_hook(hook))
    try:
        for s in range(0, min(len(ids) // seqlen, n_windows) * seqlen, seqlen):
            model(ids[None, s:s + seqlen].to(next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return stats


@torch.no_grad()
def smooth(model: nn.Module, act_max: dict, alpha: float = 0.85) -> int:
    """Fold per-channel scales s_j = max|X_j|^alpha / max|W_j|^(1-alpha) into the norm (divide) and the
    following weights (multiply): the full-precision output is unchanged. Returns the number of groups smoothed."""
    a = get_adapter(model)
    groups = a.smooth_groups
    n = 0
    for i, layer in enumerate(a.layers(model)):
        for norm, linears in groups:
            mods = [_get(layer, p) for p in linears]
            w_max = torch.stack([m.weight.abs().amax(0).float() for m in mods]).amax(0).clamp_min(1e-5)
            x_max = act_max[(i, norm)].clamp_min(1e-5)
            s = (x_max.pow(alpha) / w_max.pow(1 - alpha)).clamp_min(1e-5)
            nm = _get(layer, norm)
            nm.weight.div_(s.to(nm.weight.dtype))
            for m in mods:
                m.weight.mul_(s.to(m.weight.dtype)[None, :])
            n += 1
    return n


def tune_z(load, calib_ids: torch.Tensor, seqlen: int, windows: int, bits: int, block: str | int,
           candidates, sws) -> dict:
    """The clipping z with the lowest perplexity on calibration text. ``load()`` returns a fresh model each
    time (one model in memory at a time, no second copy). Uses sw_aware when super weights exist, else clip."""
    from .perplexity import perplexity

    method = "sw_aware" if sws else "clip"
    ppl = {}
    for z in candidates:
        model = load()
        quantize_weights(model, method, bits, block, z, sws, progress=False)
        ppl[float(z)] = perplexity(model, calib_ids, seqlen, windows, progress=False)["ppl"]
        log.info("z=%g: calibration ppl %.4g", z, ppl[float(z)])
        del model
    best = min(ppl, key=ppl.get)
    return {"z": best, "method": method, "calibration_ppl": {str(k): v for k, v in ppl.items()}}
