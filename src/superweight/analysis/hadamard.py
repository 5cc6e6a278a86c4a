"""The paper's mechanism 1, measured: the Hadamard decomposition of each super weight's down-projection input
(act(gate) x up, or act(pre) for plain MLPs) and of its output row, at the super activation's token.

Reads the MLP's parts through the family adapter (``up_path``, ``gate_path``, ``act_path``), so it runs on every
supported family. Measurements only: the claims table (superweight.report.claims_mechanism) turns them into a
verdict."""
from __future__ import annotations

import logging
import math
from typing import Iterable

import torch
from torch import nn

from superweight.models.adapters import get_adapter

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]


def _flat(t: torch.Tensor, shape: torch.Size | None = None) -> torch.Tensor:
    """(tokens, features) of the first sequence; OPT runs its MLP on (batch * tokens, features)."""
    t = t.detach()
    if t.dim() == 3:
        return t[0]
    return t if shape is None else t.reshape(*shape[:-1], t.shape[-1])[0]


def channel_stats(v: torch.Tensor, col: int) -> dict:
    """Value at ``col``, its rank by |value| among all channels (1 = largest), and its z-score."""
    v = v.double()
    absv = v.abs()
    rank = int((absv > absv[col]).sum()) + 1
    sd = float(v.std(unbiased=False))
    return {"value": float(v[col]), "abs_rank": rank, "n_channels": len(v),
            "z": (float(v[col]) - float(v.mean())) / sd if sd > 0 else math.nan,
            "ratio_to_median": float(absv[col] / absv.median()) if float(absv.median()) > 0 else math.inf}


@torch.no_grad()
def capture_mlp(model: nn.Module, ids: torch.Tensor, layers: Iterable[int]) -> dict[int, dict[str, torch.Tensor]]:
    """One forward pass; per layer the (tokens, channels) factors of the down projection's input (first sequence):
    ``gate`` (pre-activation) and ``up`` for gated MLPs, ``pre`` for plain ones; ``act`` = the activation of
    gate / pre; ``down_in`` and ``down_out`` as the down projection saw and produced them."""
    a = get_adapter(model)
    got: dict[int, dict[str, torch.Tensor]] = {l: {} for l in layers}
    handles = []

    def keep(l, key):
        def fn(mod, inp, out):
            if key == "down":
                got[l]["down_in"] = _flat(inp[0]).float()
                got[l]["down_out"] = _flat(out).float()
            else:
                got[l][key] = _flat(out).float()
        return fn

    for l in got:
        handles.append(a.down_proj(model, l).register_forward_hook(keep(l, "down")))
        handles.append(a.layer_module(model, l, a.up_path).register_forward_hook(keep(l, "up_out")))
        if a.gate_path is not None and not a.fused_gate_up:
            handles.append(a.layer_module(model, l, a.gate_path).register_forward_hook(keep(l, "gate_out")))
    try:
        model(ids)
    finally:
        for h in handles:
            h.remove()
    for l, d in got.items():
        act = a.layer_module(model, l, a.act_path)
        up_out = d.pop("up_out")
        if a.gate_path is None:
            d["pre"] = up_out
            d["act"] = act(up_out)
        else:
            if a.fused_gate_up:
                d["gate"], d["up"] = up_out.chunk(2, dim=-1)
            else:
                d["gate"], d["up"] = d.pop("gate_out"), up_out
            d["act"] = act(d["gate"])
    return got


def _factors(a, d: dict) -> list[tuple[str, torch.Tensor]]:
    if a.gate_path is None:
        return [("pre-activation", d["pre"]), ("act(pre) = down input", d["act"])]
    return [("gate (pre-activation)", d["gate"]), ("act(gate)", d["act"]), ("up", d["up"]),
            ("act(gate) * up = down input", d["act"] * d["up"])]


@torch.no_grad()
def hadamard(model: nn.Module, ids: torch.Tensor, sws: Iterable[Coord]) -> tuple[list[dict], list[dict], list[dict]]:
    """Decompose each super weight's input and output at the super activation's token.

    The token is where |down_proj output| in channel ``row`` is largest (first sequence). Returns
    (rows: one per super weight and quantity with value, rank by |value| among channels, z-score;
    per-channel values behind them; one summary per super weight with the output decomposition
    x[col] * W[row, col] against the row's other terms and the factorization check)."""
    a = get_adapter(model)
    sws = list(sws)
    caught = capture_mlp(model, ids, sorted({l for l, _, _ in sws}))
    rows, channels, summaries = [], [], []
    for l, r, c in sws:
        d = caught[l]
        t = int(d["down_out"][:, r].abs().argmax())
        x = d["down_in"][t]
        recon = _factors(a, d)[-1][1][t]
        rel_err = float((recon - x).abs().max() / x.abs().max().clamp_min(1e-30))
        if rel_err > 1e-2:
            raise RuntimeError(f"layer {l}: the factors do not reproduce the down projection's input "
                               f"(max relative error {rel_err:.3g}); the adapter's MLP paths are wrong for this model")
        w_row = a.down_row(model, l, r).float()
        contrib = x * w_row
        bias = getattr(a.down_proj(model, l), "bias", None)
        b = float(bias[r]) if bias is not None else 0.0
        out = float(d["down_out"][t, r])
        key = {"layer": l, "row": r, "col": c, "token": t}
        quantities = [(name, v[t]) for name, v in _factors(a, d)]
        quantities += [("weight W[row, :]", w_row), ("contribution x * W[row, :]", contrib)]
        for name, v in quantities:
            rows.append({**key, "quantity": name, **channel_stats(v, c)})
            channels += [{**key, "quantity": name, "channel": j, "value": float(val)} for j, val in enumerate(v.tolist())]
        sw_term = float(contrib[c])
        others = float(contrib.sum()) - sw_term
        mask = torch.ones_like(contrib, dtype=torch.bool)
        mask[c] = False
        summaries.append({**key, "output": out, "sw_term": sw_term, "others_sum": others, "bias": b,
                          "others_max_abs": float(contrib[mask].abs().max()), "sw_share": sw_term / out if out else math.nan,
                          "factorization_rel_error": rel_err, "gated": a.gate_path is not None})
        log.info("layer %d [%d, %d] token %d: x*w = %.4g of output %.4g (others %.4g)", l, r, c, t, sw_term, out, others)
    return rows, channels, summaries
