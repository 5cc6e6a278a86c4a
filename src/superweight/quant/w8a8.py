"""Activation quantization (W8A8), simulated as SmoothQuant's: weights 8-bit symmetric per tensor (or per output
channel), activations 8-bit symmetric per token on the inputs of the projections named by role (q/k/v/gate/up/down
as the paper's text; o as an option) and on the attention BMM operands (the q/k/v projection outputs, as
SmoothQuant's simulation); the super activation optionally kept in full precision; SmoothQuant's smoothing."""
from __future__ import annotations

import contextlib
import logging

import torch
from torch import nn

from superweight.quant.methods import ACT_METHODS  # noqa: F401 (the one list)
from superweight.models.adapters import get_adapter, module_at
from superweight.models.meter import counted_as

log = logging.getLogger(__name__)
# choices no config key changes, each a row of the protocol page (report/fixed_choices.py)
FIXED_CHOICES = ("w8a8.absmax", "w8a8.sa_token_median", "w8a8.sa_where", "w8a8.smooth_groups")


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


# the paper's text: the inputs of q/k/v/gate/up/down (SmoothQuant also quantizes o) and the attention BMM inputs, read
# as SmoothQuant's simulation does: the q/k/v projection outputs (before RoPE; the softmax output left alone)
PAPER_INPUTS = ("q", "k", "v", "gate", "up", "down")
PAPER_BMM = ("q", "k", "v")
ROLES = ("q", "k", "v", "o", "gate", "up", "down")


class W8A8:
    """Fake-quantize, as SmoothQuant's simulation: the weights of the projections serving ``inputs`` (roles, mapped
    by the adapter) 8-bit per tensor in place (put back on exit), their inputs 8-bit per token (forward pre-hooks), and the outputs of
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
        # (module, original weight), put back on exit: a copy of every quantized weight, held in CPU memory
        self._saved: list[tuple[nn.Module, torch.Tensor]] = []

    def __enter__(self):
        for i, layer in enumerate(get_adapter(self.model).layers(self.model)):
            for path in self.inputs:
                mod = module_at(layer, path)
                self._saved.append((mod, mod.weight.detach().to("cpu", copy=True)))  # off the accelerator
                with torch.no_grad():
                    w = mod.weight.float()
                    lin = isinstance(mod, nn.Linear)  # GPT-2's Conv1D stores (in, out): channels are its columns
                    q = self.weight_quant(w if lin else w.t(), self.bits)
                    mod.weight.copy_((q if lin else q.t()).to(mod.weight.dtype))
                self.handles.append(mod.register_forward_pre_hook(self._in_hook(self.sa.get((i, path)))))
            for path in self.bmm:
                self.handles.append(module_at(layer, path).register_forward_hook(self._out_hook))
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
        """Remove the hooks and put every quantized weight back, bitwise."""
        for h in self.handles:
            h.remove()
        self.handles = []
        with torch.no_grad():
            for mod, w in self._saved:
                mod.weight.copy_(w)
        self._saved = []


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
@counted_as("calibration")
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
            handles.append(module_at(layer, norm).register_forward_hook(hook))
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
            mods = [module_at(layer, p) for p in linears]
            w_max = torch.stack([m.weight.abs().amax(0).float() for m in mods]).amax(0).clamp_min(1e-5)
            x_max = act_max[(i, norm)].clamp_min(1e-5)
            s = (x_max.pow(alpha) / w_max.pow(1 - alpha)).clamp_min(1e-5)
            nm = module_at(layer, norm)
            nm.weight.div_(s.to(nm.weight.dtype))
            for m in mods:
                m.weight.mul_(s.to(m.weight.dtype)[None, :])
            n += 1
    return n


@contextlib.contextmanager
def smoothed(model: nn.Module, act_max: dict, alpha: float = 0.85):
    """``smooth`` for the duration of the block (yields the number of groups smoothed); the norms and linears it
    scaled are put back bitwise afterwards (a copy of each is held meanwhile)."""
    a = get_adapter(model)
    saved = [(p, p.detach().clone()) for layer in a.layers(model) for norm, linears in a.smooth_groups
             for p in [module_at(layer, norm).weight] + [module_at(layer, q).weight for q in linears]]
    try:
        yield smooth(model, act_max, alpha)
    finally:
        with torch.no_grad():
            for p, v in saved:
                p.copy_(v)
