"""Weight edits on one loaded model: zero, scale, prune other outliers (the restore of the super activation is
``interventions.restore``).

Each is also a context manager (``zeroed``, ``scaled``, ``pruned_nonsw``, ``pruned_all_weights_per_tensor``) that
puts back, bitwise, exactly what it changed. Each checks that it changed what it meant to change and logs the values
before and after (the official code silently pruned nothing for some model ids)."""
from __future__ import annotations

import contextlib
import logging
import re
from typing import Iterable

import torch
from torch import nn

from superweight.models.adapters import get_adapter

FIXED_CHOICES = ("edits.one_factor",)  # the protocol page's rows (report.fixed_choices)

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]


class InterventionError(RuntimeError):
    """An intervention did not change the model as intended."""


def scale_weights(model: nn.Module, coords: Iterable[Coord], factor: float) -> list[dict]:
    """Multiply each super weight by ``factor`` in place; returns before/after records."""
    a = get_adapter(model)
    records = []
    for layer, row, col in coords:
        before = a.get_weight(model, layer, row, col)
        a.set_weight(model, layer, row, col, before * factor)
        after = a.get_weight(model, layer, row, col)
        expected = torch.tensor(before * factor, dtype=a.down_proj(model, layer).weight.dtype).item()
        if after != expected:
            raise InterventionError(f"layer {layer} [{row}, {col}]: expected {expected}, weight is {after}")
        if factor != 1 and before != 0 and after == before:
            raise InterventionError(f"layer {layer} [{row}, {col}] unchanged by factor {factor}")
        log.info("scale x%g layer %d [%d, %d]: %.6g -> %.6g", factor, layer, row, col, before, after)
        records.append({"layer": layer, "row": row, "col": col, "before": before, "after": after})
    return records


def zero_weights(model: nn.Module, coords: Iterable[Coord]) -> list[dict]:
    """Set each super weight to 0 in place (asserting it was nonzero and is zero now)."""
    coords = list(coords)
    a = get_adapter(model)
    for layer, row, col in coords:
        if a.get_weight(model, layer, row, col) == 0.0:
            raise InterventionError(f"layer {layer} [{row}, {col}] is already 0: pruning it would change nothing")
    return scale_weights(model, coords, 0.0)


@contextlib.contextmanager
def scaled(model: nn.Module, coords: Iterable[Coord], factor: float):
    """``scale_weights`` for the duration of the block (yields its before/after records); the weights are bitwise
    their originals afterwards."""
    a = get_adapter(model)
    coords = list(coords)
    saved = [a.down_proj(model, l).weight[a._index(r, c)].clone() for l, r, c in coords]
    try:
        yield scale_weights(model, coords, factor)
    finally:
        for (l, r, c), v in reversed(list(zip(coords, saved))):  # a coordinate listed twice gets its first value
            a.set_weight(model, l, r, c, v)


@contextlib.contextmanager
def zeroed(model: nn.Module, coords: Iterable[Coord]):
    """``zero_weights`` for the duration of the block (yields its records); restored bit-exactly afterwards."""
    a = get_adapter(model)
    coords = list(coords)
    saved = [a.down_proj(model, l).weight[a._index(r, c)].clone() for l, r, c in coords]
    try:
        yield zero_weights(model, coords)
    finally:
        for (l, r, c), v in reversed(list(zip(coords, saved))):
            a.set_weight(model, l, r, c, v)


def _sw_mask_positions(model, sws: Iterable[Coord]) -> dict[str, list[tuple[int, int]]]:
    """Storage indices of the super weights, per module name."""
    a = get_adapter(model)
    out: dict[str, list[tuple[int, int]]] = {}
    for l, r, c in sws:
        name = f"{a.layers_path}.{l}.{a.down_path}"
        out.setdefault(name, []).append(a._index(r, c))
    return out


def _zero_at(name: str, weight: torch.Tensor, idx: torch.Tensor, undo: list | None) -> torch.Tensor:
    """Zero ``weight``'s flat entries ``idx`` in place (their old values kept in ``undo`` when given), check that
    they are zero, and return their magnitudes."""
    flat = weight.view(-1)
    if undo is not None:
        undo.append((weight, idx, flat[idx].clone()))
    mags = flat[idx].abs().float()
    flat[idx] = 0
    if (flat[idx] != 0).any():
        raise InterventionError(f"{name}: pruned weights are not zero")
    return mags


def prune_nonsw(model: nn.Module, sws: Iterable[Coord], rule: str = "fraction", amount: float = 1e-6,
                keep_undo: bool = False) -> dict:
    """Zero the largest-magnitude decoder linear weights other than the super weights.

    rule ``fraction``: the top ``amount`` fraction of all decoder linear weights, ranked globally;
    ``count``: the top ``int(amount)`` globally; ``per_tensor``: exactly the top ``int(numel * amount)``
    of each tensor. These three exclude the super weights from the ranking, so exactly that many others go.
    ``official``: the official code's rule exactly (outliers/model.py, ``search_percentage``): per tensor,
    the threshold is the ``int(numel * amount)``-th largest |w| with the super weights ranked too, every
    |w| >= threshold is zeroed (ties included), then the super weights are put back at their original
    value (here: left out of the zeroing, which is the same). Per-tensor rules prune nothing in tensors
    under 1/amount elements. Returns a summary with the count; with ``keep_undo`` its "_undo" entry holds
    the pruned values for ``undo_prune`` (no model copy needed)."""
    a = get_adapter(model)
    sw_pos = _sw_mask_positions(model, sws)
    mods = [(n, m) for n, m, _ in a.linear_modules(model)]
    total = sum(m.weight.numel() for _, m in mods)
    if rule == "fraction":
        k_global = int(total * amount)
    elif rule == "count":
        k_global = int(amount)
    elif rule in ("per_tensor", "official"):
        k_global = None
    else:
        raise ValueError(f"prune_nonsw rule must be fraction, count, per_tensor or official, got {rule!r}")

    def ranked(name, m, k):
        w = m.weight.detach().abs().flatten().float()
        for r, c in sw_pos.get(name, []):
            w[r * m.weight.shape[1] + c] = -1.0  # never selected
        k = min(k, w.numel())
        vals, idx = torch.topk(w, k) if k else (w[:0], w[:0].long())
        return vals, idx

    chosen: list[tuple[str, torch.Tensor]] = []
    official = {}
    if rule == "official":
        chosen, official = _official_per_tensor(mods, sw_pos, amount)
    elif k_global is None:
        for n, m in mods:
            k = int(m.weight.numel() * amount)
            if k:
                vals, idx = ranked(n, m, k)
                chosen.append((n, idx[vals >= 0]))
    elif k_global > 0:
        cands = []  # a tensor's top k_global is enough to take the global top k_global
        for j, (n, m) in enumerate(mods):
            vals, idx = ranked(n, m, k_global)
            cands.append((vals, idx, torch.full_like(idx, j)))
        vals = torch.cat([c[0] for c in cands]); idx = torch.cat([c[1] for c in cands]); src = torch.cat([c[2] for c in cands])
        top = torch.topk(vals, min(k_global, len(vals))).indices
        top = top[vals[top] >= 0]
        for j in src[top].unique().tolist():
            sel = top[src[top] == j]
            chosen.append((mods[j][0], idx[sel]))
    by_name = dict(mods)
    n_pruned, magnitudes, per_module, undo = 0, [], {}, []
    with torch.no_grad():
        for n, idx in chosen:
            magnitudes.append(_zero_at(n, by_name[n].weight, idx, undo if keep_undo else None))
            n_pruned += len(idx)
            per_module[n] = len(idx)
    mags = torch.cat(magnitudes) if magnitudes else torch.zeros(0)
    if n_pruned == 0:
        log.warning("prune_nonsw (%s, %g) pruned nothing: every tensor is below 1/amount elements", rule, amount)
    summary = {"rule": rule, "amount": amount, "n_pruned": n_pruned, "n_weights_considered": total,
               "largest_pruned": sorted(mags.tolist(), reverse=True)[:10],
               "smallest_pruned": float(mags.min()) if len(mags) else None, "per_module": per_module, **official}
    if keep_undo:
        summary["_undo"] = undo
    log.info("prune_nonsw: %d weights zeroed (rule %s, amount %g); largest |w| %s", n_pruned, rule, amount,
             summary["largest_pruned"][:3])
    return summary


# The official Table 1 script's layer range: outlier_method search_percentage_1e-6_0-32_all
# (scripts/run_SW_importance_ablation.sh), parsed as range(0, 32) (outliers/model.py:352-354): decoder layers 0-31
# only, every layer of Llama-7B, the first 32 of Llama-13B's 40 and Llama-30B's 60.
OFFICIAL_PRUNE_LAYERS = range(0, 32)


def _layer_of(name: str) -> int:
    """The decoder layer index in a linear module's name ("model.layers.3.mlp.down_proj" -> 3)."""
    return int(re.search(r"\.(\d+)\.", name).group(1))


def _official_per_tensor(mods, sw_pos: dict, amount: float,
                         layers: range = OFFICIAL_PRUNE_LAYERS) -> tuple[list[tuple[str, torch.Tensor]], dict]:
    """The official per-tensor selection: flat indices with |w| >= the k-th largest |w| of the tensor
    (k = int(numel * amount), super weights ranked), minus the super weights, which are kept; only in the decoder
    layers of ``layers`` (the official script's range)."""
    chosen, ties, sw_ranked = [], 0, []
    outside = sorted({_layer_of(n) for n, _ in mods} - set(layers))
    for n, m in mods:
        if _layer_of(n) not in layers:
            continue
        k = int(m.weight.numel() * amount)
        if k < 1:  # the official code skips such tensors
            continue
        w = m.weight.detach().abs().flatten()  # in the weight's own dtype, as the official code
        threshold = torch.topk(w, k).values[-1]
        idx = ((w >= threshold) & (w != 0)).nonzero().flatten()  # zeroing a zero changes nothing: not counted
        ties += max(0, len(idx) - k)
        sw_flat = torch.tensor([r * m.weight.shape[1] + c for r, c in sw_pos.get(n, [])], dtype=torch.long)
        is_sw = torch.isin(idx, sw_flat)
        sw_ranked += [n] * int(is_sw.sum())
        chosen.append((n, idx[~is_sw]))
    if outside:
        log.info("prune_nonsw official: layers %d-%d are outside the official range %d-%d and keep every weight",
                 outside[0], outside[-1], layers.start, layers.stop - 1)
    return chosen, {"ties_beyond_k": ties, "super_weights_ranked_and_kept": sw_ranked,
                    "layers": [layers.start, layers.stop], "layers_outside_range": outside}


def prune_all_weights_per_tensor(model: nn.Module, amount: float = 5e-7, keep_undo: bool = False) -> dict:
    """The official Fig. 4 rule (analyze.py ``remove_outliers``): in every parameter whose name ends in
    "weight" (embeddings, norms and the LM head included), zero each |w| >= the ``int(numel * amount)``-th
    largest |w| of that tensor, ties included; tensors under 1/amount elements are skipped. The official code
    runs it with the super weights already zeroed, so they are not ranked: call it inside ``zeroed``."""
    n_pruned, per_param, undo, magnitudes = 0, {}, [], []
    with torch.no_grad():
        for name, p in model.named_parameters():
            k = int(p.numel() * amount)
            if not name.endswith("weight") or k < 1:
                continue
            flat = p.data.view(-1)
            threshold = torch.topk(flat.abs(), k).values[-1]
            idx = ((flat.abs() >= threshold) & (flat != 0)).nonzero().flatten()  # a zero stays a zero
            magnitudes.append(_zero_at(name, p, idx, undo if keep_undo else None))
            n_pruned += len(idx)
            per_param[name] = len(idx)
    mags = torch.cat(magnitudes) if magnitudes else torch.zeros(0)
    summary = {"rule": "official_all_weights", "amount": amount, "n_pruned": n_pruned, "per_param": per_param,
               "largest_pruned": sorted(mags.tolist(), reverse=True)[:10]}
    if keep_undo:
        summary["_undo"] = undo
    log.info("official outlier removal (%g per tensor, all weights): %d weights zeroed in %d tensors; largest |w| %s",
             amount, n_pruned, len(per_param), summary["largest_pruned"][:3])
    return summary


def undo_prune(model: nn.Module, summary: dict) -> None:
    """Put back the weights a ``prune_nonsw`` or ``prune_all_weights_per_tensor`` with ``keep_undo`` zeroed."""
    with torch.no_grad():
        for param, idx, vals in reversed(summary.pop("_undo")):
            param.data.view(-1)[idx] = vals


@contextlib.contextmanager
def pruned_nonsw(model: nn.Module, sws: Iterable[Coord], rule: str = "fraction", amount: float = 1e-6):
    """``prune_nonsw`` for the duration of the block (yields its summary, plain data); the pruned weights are put
    back bitwise afterwards."""
    summary = prune_nonsw(model, sws, rule, amount, keep_undo=True)
    undo = {"_undo": summary.pop("_undo")}
    try:
        yield summary
    finally:
        undo_prune(model, undo)


@contextlib.contextmanager
def pruned_all_weights_per_tensor(model: nn.Module, amount: float = 5e-7):
    """``prune_all_weights_per_tensor`` for the duration of the block (yields its summary); the pruned weights are
    put back bitwise afterwards."""
    summary = prune_all_weights_per_tensor(model, amount, keep_undo=True)
    undo = {"_undo": summary.pop("_undo")}
    try:
        yield summary
    finally:
        undo_prune(model, undo)
