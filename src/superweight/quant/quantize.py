"""Simulated quantization (quantize, then dequantize), in place, tensor by tensor, vectorized over blocks.

Weights: asymmetric min-max round-to-nearest per block. Blocks are contiguous runs of the row-major flattened
tensor (the official code's "128x128" = 16,384 consecutive elements), or 2-D tiles (rows x cols). Where the paper is
silent, the official code's arithmetic is an option (``RTNOptions``: partial blocks, rounding, std, dtype).
The super weights can be put back in full precision after quantizing, at their value times a factor (Table 6).
Activations (W8A8): SmoothQuant-style fake quantization, weights 8-bit symmetric per tensor (or per output channel),
activations 8-bit
symmetric per token on the inputs of the projections named by role (q/k/v/gate/up/down as the paper's text; o as
an option) and on the attention BMM operands (the q/k/v projection outputs, as SmoothQuant's simulation)."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from superweight.models.adapters import _getattr_path as _get, get_adapter

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


@dataclass(frozen=True)
class RTNOptions:
    """The quantizer's arithmetic where the paper is silent and its official code (``quantize_blockwise``) made a
    choice; each official choice is an option. Defaults and reasons: README, "Quantization".

    partial: a tensor whose size is not a multiple of the block: ``short`` last block (project) or ``whole_tensor``
      (official: the whole tensor becomes one block, clipping statistics included).
    rounding: ``official`` q = round((w - min) * (levels / (max - min))), w' = q / s + min; ``divide`` (the project's
      former arithmetic) q = round((w - lo) / ((hi - lo) / levels)), w' = q * step + lo. Equal in exact arithmetic;
      they differ at exact ties, where GGUF-dequantized weights sit.
    std: the clipping std, ``unbiased`` (official: torch's default) or ``population``.
    dtype: ``float32`` (project) or ``weight`` (official: clipping and RTN in the weight's own dtype, e.g. fp16, the
      clipping statistics by torch's abs().mean() / abs().std() as quantize_blockwise computes them)."""

    partial: str = "short"
    rounding: str = "official"
    std: str = "unbiased"
    dtype: str = "float32"

    CHOICES = {"partial": ("short", "whole_tensor"), "rounding": ("official", "divide"),
               "std": ("unbiased", "population"), "dtype": ("float32", "weight")}

    def __post_init__(self):
        for k, allowed in self.CHOICES.items():
            if getattr(self, k) not in allowed:
                raise ValueError(f"quantization.weights.{_KEYS[k]}: {getattr(self, k)!r} is not one of {', '.join(allowed)}")

    @classmethod
    def from_config(cls, q: dict) -> "RTNOptions":
        """From ``quantization.weights`` (keys partial_block, rounding, clip_std, compute_dtype; absent = default)."""
        return cls(**{k: q[v] for k, v in _KEYS.items() if v in q})

    def asdict(self) -> dict:
        return {_KEYS[k]: getattr(self, k) for k in _KEYS}


_KEYS = {"partial": "partial_block", "rounding": "rounding", "std": "clip_std", "dtype": "compute_dtype"}


def _divides(shape, spec: BlockSpec) -> bool:
    rows, cols = shape
    if spec.kind == "flat":
        return (rows * cols) % spec.size == 0
    if spec.kind == "tile":
        return rows % spec.rows == 0 and cols % spec.cols == 0
    return True


def rtn(blocks: torch.Tensor, bits: int, rounding: str = "official") -> torch.Tensor:
    """Asymmetric min-max round-to-nearest per row of ``blocks`` (NaN = padding, kept NaN), in ``blocks``' dtype.
    A constant block is returned unchanged (the official code would divide by zero)."""
    levels = 2 ** bits - 1
    valid = ~torch.isnan(blocks)
    lo = torch.where(valid, blocks, torch.full_like(blocks, math.inf)).amin(1, keepdim=True)
    hi = torch.where(valid, blocks, torch.full_like(blocks, -math.inf)).amax(1, keepdim=True)
    flat = hi == lo
    if rounding == "official":
        s = levels / torch.where(flat, torch.ones_like(hi), hi - lo)
        out = torch.round((blocks - lo) * s) / s + lo
    elif rounding == "divide":
        step = torch.where(flat, torch.ones_like(hi), (hi - lo) / levels)
        out = torch.clamp(torch.round((blocks - lo) / step), 0, levels) * step + lo
    else:
        raise ValueError(f"unknown rounding {rounding!r}; use official or divide")
    return torch.where(flat, blocks, out)


def clip(blocks: torch.Tensor, z: float, std: str = "unbiased", stats: str = "accumulate",
         whole: bool = False) -> torch.Tensor:
    """Clip |W| above z * std(|W|) + mean(|W|) per block (sign kept).

    ``stats="accumulate"``: the statistics are summed in float32 and rounded to ``blocks``' dtype, the bound computed
    in that dtype. ``stats="torch"`` (the official code, with compute_dtype ``weight``): torch's own
    ``abs().mean(dim=1)`` and ``abs().std(dim=1)`` in the blocks' dtype, bit for bit as quantize_blockwise; with
    ``whole`` (a whole tensor as one block) the reductions run over all elements (``abs().mean()``), as the official
    code's branch for a tensor that is not a multiple of the block. Padded blocks (NaN) always accumulate."""
    valid = ~torch.isnan(blocks)
    correction = 1 if std == "unbiased" else 0
    full = valid.all(1)
    if stats == "torch" and bool(full.all()):
        a = blocks.abs()
        if whole:
            mean, sd = a.mean(), a.std(correction=correction)
        else:
            mean, sd = a.mean(1, keepdim=True), a.std(1, keepdim=True, correction=correction)
        bound = z * sd + mean
        return torch.clamp(blocks, -bound, bound)
    a = torch.where(valid, blocks.abs(), torch.zeros_like(blocks)).float()
    n = valid.sum(1, keepdim=True)
    mean = a.sum(1, keepdim=True) / n.clamp_min(1)
    ss = torch.where(valid, (a - mean) ** 2, torch.zeros_like(a)).sum(1, keepdim=True)
    var = ss / (n - correction).clamp_min(1)
    bound = z * var.sqrt().to(blocks.dtype) + mean.to(blocks.dtype)
    if stats == "torch" and bool(full.any()):  # full blocks as torch computes them, the padded one accumulated
        a_full = blocks[full].abs()
        bound[full] = z * a_full.std(1, keepdim=True, correction=correction) + a_full.mean(1, keepdim=True)
    return torch.where(valid, blocks.clamp(-bound, bound), blocks)


def quantize_tensor(w: torch.Tensor, bits: int, spec: BlockSpec, z: float | None = None,
                    opts: RTNOptions = RTNOptions()) -> tuple[torch.Tensor, str]:
    """Quantize-dequantize one weight (rows = output channels), optionally clipping first.
    Returns (dequantized weight in the compute dtype, the block layout actually used)."""
    x = w.detach().to(torch.float32 if opts.dtype == "float32" else w.dtype)
    used = spec
    whole = opts.partial == "whole_tensor" and not _divides(w.shape, spec)
    if whole:
        used = BlockSpec("per_tensor")
    blocks, back = _blocks(x, used)
    if z is not None:  # the weight's dtype: statistics as the official code computes them (torch's mean/std)
        blocks = clip(blocks, z, opts.std, "torch" if opts.dtype == "weight" else "accumulate", whole)
    return back(rtn(blocks, bits, opts.rounding)), str(used)


def quantized_linears(model: nn.Module, method: str, bits: int, block: str | int, z: float = 9.0,
                      sws: list[tuple[int, int, int]] = (), sw_factor: float = 1.0, opts: RTNOptions = RTNOptions()):
    """Per decoder linear weight, without changing the model: (name, module, transposed, w, q, record) with ``w``
    the weight and ``q`` its quantized-dequantized value, both in the nn.Linear (out, in) layout and the weight's
    dtype. ``sw_aware`` and ``rtn_keep_sw`` put the super weights back in full precision *after* quantizing, at
    their original value times ``sw_factor``; ``record`` lists them (original, quantized, final value)."""
    if method not in WEIGHT_METHODS:
        raise ValueError(f"unknown weight quantization method {method!r}; use one of {', '.join(WEIGHT_METHODS)}")
    restores = method in ("sw_aware", "rtn_keep_sw")
    if restores and not sws:
        raise ValueError(f"{method} needs confirmed super weights; detection confirmed none")
    if sw_factor != 1.0 and not restores:
        raise ValueError(f"amplifying the super weights needs a method that restores them (sw_aware, rtn_keep_sw), not {method}")
    spec = BlockSpec.parse(block)
    a = get_adapter(model)
    holders = {}
    for l, r, c in sws if restores else ():
        holders.setdefault(id(a.down_proj(model, l)), []).append((l, r, c))
    for name, mod, transposed in a.linear_modules(model):
        w = mod.weight.data
        w_lin = w.t() if transposed else w  # blocks follow the nn.Linear (out, in) row-major layout
        q, used = quantize_tensor(w_lin, bits, spec, z if method in ("clip", "sw_aware") else None, opts)
        q = q.to(w.dtype)
        rec = {"tensor": name, "numel": w.numel(), "block_used": used}
        for l, r, c in holders.get(id(mod), []):
            original, quantized = w_lin[r, c].clone(), q[r, c].clone()
            q[r, c] = (original.double() * sw_factor).to(w.dtype)
            rec.setdefault("restored", []).append({"layer": l, "row": r, "col": c, "original": float(original),
                                                   "quantized": float(quantized), "factor": sw_factor,
                                                   "restored": float(q[r, c])})
        rec["rel_error"] = float((q.float() - w_lin.float()).norm() / w_lin.float().norm().clamp_min(1e-12))
        yield name, mod, transposed, w_lin, q, rec


def quantize_weights(model: nn.Module, method: str, bits: int, block: str | int, z: float = 9.0,
                     sws: list[tuple[int, int, int]] = (), progress: bool = True, sw_factor: float = 1.0,
                     opts: RTNOptions = RTNOptions()) -> list[dict]:
    """Quantize every decoder linear weight in place (see ``quantized_linears``); per tensor, the relative
    reconstruction error, the block layout used and any super weight put back; checks each one was."""
    from tqdm.auto import tqdm

    a = get_adapter(model)
    n = len(list(a.linear_modules(model)))
    records = []
    for _, mod, transposed, _, q, rec in tqdm(quantized_linears(model, method, bits, block, z, sws, sw_factor, opts),
                                              total=n, desc=f"{method} int{bits} {block}", disable=not progress,
                                              mininterval=5):
        mod.weight.data.copy_(q.t() if transposed else q)
        records.append(rec)
    done = [x for rc in records for x in rc.get("restored", [])]
    if method in ("sw_aware", "rtn_keep_sw") and len(done) != len(set(map(tuple, sws))):
        raise RuntimeError(f"restored {len(done)} of {len(sws)} super weights")
    for x in done:
        if a.get_weight(model, x["layer"], x["row"], x["col"]) != x["restored"]:
            raise RuntimeError(f"super weight {(x['layer'], x['row'], x['col'])} was not restored")
        log.info("super weight layer %d [%d, %d]: original %.6g, quantized %.6g, put back as %.6g (x%g)",
                 x["layer"], x["row"], x["col"], x["original"], x["quantized"], x["restored"], x["factor"])
    log.info("%s int%d block %s: mean relative error %.4g over %d tensors", method, bits, block,
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


def fake_quant_per_channel(w: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Symmetric absmax per output channel (row of the nn.Linear weight), as SmoothQuant's per-channel option."""
    qmax = 2 ** (bits - 1) - 1
    s = (w.abs().amax(-1, keepdim=True) / qmax).clamp_min(1e-12)
    return torch.clamp(torch.round(w / s), -qmax, qmax) * s


WEIGHT_GRANULARITY = {"per_tensor": fake_quant_per_tensor, "per_channel": fake_quant_per_channel}


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


# the paper's text: the inputs of q/k/v/gate/up/down and the attention BMM inputs (SmoothQuant also quantizes o)
PAPER_INPUTS = ("q", "k", "v", "gate", "up", "down")
PAPER_BMM = ("q", "k", "v")
ROLES = ("q", "k", "v", "o", "gate", "up", "down")


class W8A8:
    """Fake-quantize, as SmoothQuant's simulation: the weights of the projections serving ``inputs`` (roles, mapped
    by the adapter) 8-bit per tensor in place, their inputs 8-bit per token (forward pre-hooks), and the outputs of
    the projections serving ``bmm`` (q/k/v: the attention BMM operands, before RoPE as in that simulation; a fused
    qkv output is quantized per token as one) 8-bit per token (forward hooks). ``sa_channels`` maps (layer, path) ->
    input channel holding the super activation, kept in full precision. ``calls`` counts the quantized tensors."""

    def __init__(self, model: nn.Module, bits: int = 8, sa_channels: dict | None = None,
                 inputs=PAPER_INPUTS, bmm=PAPER_BMM, weight_granularity: str = "per_tensor"):
        bad = sorted(set(inputs) - set(ROLES)) + sorted(set(bmm) - {"q", "k", "v"})
        if bad:
            raise ValueError(f"unknown W8A8 role(s) {bad}: inputs take {', '.join(ROLES)}; bmm takes q, k, v")
        if weight_granularity not in WEIGHT_GRANULARITY:
            raise ValueError(f"quantization.activations.weight_granularity: {weight_granularity!r} is not one of "
                             f"{', '.join(WEIGHT_GRANULARITY)}")
        self.weight_quant = WEIGHT_GRANULARITY[weight_granularity]
        a = get_adapter(model)
        self.model, self.bits, self.sa = model, bits, sa_channels or {}
        self.inputs, self.bmm = a.role_paths(inputs), a.role_paths(bmm)
        self.handles, self.calls = [], {"inputs": 0, "bmm_outputs": 0, "sa_kept": 0}

    def __enter__(self):
        for i, layer in enumerate(get_adapter(self.model).layers(self.model)):
            for path in self.inputs:
                mod = _get(layer, path)
                with torch.no_grad():
                    w = mod.weight.float()
                    lin = isinstance(mod, nn.Linear)  # GPT-2's Conv1D stores (in, out): channels are its columns
                    q = self.weight_quant(w if lin else w.t(), self.bits)
                    mod.weight.copy_((q if lin else q.t()).to(mod.weight.dtype))
                self.handles.append(mod.register_forward_pre_hook(self._in_hook(self.sa.get((i, path)))))
            for path in self.bmm:
                self.handles.append(_get(layer, path).register_forward_hook(self._out_hook))
        return self

    def _in_hook(self, ch):
        def fn(mod, args):
            x = args[0]
            if ch is None:
                y = fake_quant_per_token(x.float(), self.bits)
            else:
                y = quantize_with_sa(x.float(), ch, self.bits)
                self.calls["sa_kept"] += 1
            self.calls["inputs"] += 1
            return (y.to(x.dtype), *args[1:])
        return fn

    def _out_hook(self, mod, args, out):
        self.calls["bmm_outputs"] += 1
        return fake_quant_per_token(out.float(), self.bits).to(out.dtype)

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []


def sa_channels(model: nn.Module, sws: list[tuple[int, int, int]], inputs=PAPER_INPUTS) -> dict:
    """Where the super activation enters a quantized input: the down projection's input channel ``col`` in the
    super weight's layer (when ``down`` is quantized), and residual channel ``row`` in every quantized input read
    from the residual stream after it (q/k/v, gate/up; o reads the attention output, not the residual stream)."""
    a = get_adapter(model)
    readers = a.residual_readers(inputs)
    out = {}
    for l, r, c in sws:
        if "down" in inputs:
            out[(l, a.down_path)] = c
        for i in range(l + 1, len(a.layers(model))):
            for path in readers:
                out.setdefault((i, path), r)
    return out


# --- SmoothQuant -------------------------------------------------------------------------------------------

@torch.no_grad()
def activation_absmax(model: nn.Module, ids, seqlen: int | None = None, n_windows: int | None = None) -> dict:
    """Per-channel max |input| of each smoothed norm's output over the calibration text: a list of samples, each
    one forward pass (SmoothQuant's get_act_scales), or one token tensor cut into ``n_windows`` of ``seqlen``."""
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
    if torch.is_tensor(ids):
        ids = [ids[s:s + seqlen] for s in range(0, min(len(ids) // seqlen, n_windows) * seqlen, seqlen)]
    if not ids:
        raise ValueError("SmoothQuant calibration has no sample")
    try:
        for x in ids:
            model(x[None].to(next(model.parameters()).device))
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
