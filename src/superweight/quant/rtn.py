"""Weight quantization: asymmetric min-max round-to-nearest per block, simulated (quantize, then dequantize), in
place, tensor by tensor, vectorized over blocks.

Blocks are contiguous runs of the row-major flattened tensor (the official code's "128x128" = 16,384 consecutive
elements), or 2-D tiles (rows x cols). Where the paper is silent, the official code's arithmetic is an option
(``RTNOptions``: partial blocks, rounding, std, dtype). The super weights can be put back in full precision after
quantizing, at their value times a factor (Table 6). ``quantized`` restores the weights afterwards."""
from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from superweight.quant.methods import WEIGHT_METHODS  # noqa: F401 (the one list; checked below)
from superweight.models.adapters import get_adapter
from superweight.settings import WeightQuant

log = logging.getLogger(__name__)
# choices no config key changes, each a row of the protocol page (report/fixed_choices.py)
FIXED_CHOICES = ("rtn.tensors", "rtn.flat_blocks", "rtn.levels", "rtn.sw_after")


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
    choice; each official choice is an option. Defaults and reasons: docs/quantization.md.

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
    def from_config(cls, q: WeightQuant) -> "RTNOptions":
        """From `quantization.weights` (its partial_block, rounding, clip_std and compute_dtype)."""
        return cls(**{k: getattr(q, v) for k, v in _KEYS.items()})

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


@contextlib.contextmanager
def quantized(model: nn.Module, method: str, bits: int, block: str | int, z: float = 9.0,
              sws: list[tuple[int, int, int]] = (), sw_factor: float = 1.0, opts: RTNOptions = RTNOptions(),
              progress: bool = False):
    """``quantize_weights`` for the duration of the block (yields its records); afterwards every decoder linear
    weight is bitwise its original again. The originals are held in CPU memory meanwhile."""
    saved = [(mod, mod.weight.detach().to("cpu", copy=True)) for _, mod, _ in get_adapter(model).linear_modules(model)]
    try:
        yield quantize_weights(model, method, bits, block, z, sws, progress, sw_factor, opts)
    finally:
        with torch.no_grad():
            for mod, w in saved:
                mod.weight.copy_(w)
