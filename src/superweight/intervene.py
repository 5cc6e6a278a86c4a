"""Interventions on one loaded model: zero, scale, prune other outliers, restore the super activation.

Each checks that it changed what it meant to change and logs the values before and after (the
official code silently pruned nothing for some model ids)."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterable

import torch
from torch import nn

from .adapters import get_adapter

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
def zeroed(model: nn.Module, coords: Iterable[Coord]):
    """Temporarily zero the given weights; restore them bit-exactly afterwards."""
    a = get_adapter(model)
    coords = list(coords)
    saved = [a.down_proj(model, l).weight[a._index(r, c)].clone() for l, r, c in coords]
    zero_weights(model, coords)
    try:
        yield
    finally:
        for (l, r, c), v in zip(coords, saved):
            a.set_weight(model, l, r, c, v)


def _sw_mask_positions(model, sws: Iterable[Coord]) -> dict[str, list[tuple[int, int]]]:
    """Storage indices of the super weights, per module name."""
    a = get_adapter(model)
    out: dict[str, list[tuple[int, int]]] = {}
    for l, r, c in sws:
        name = f"{a.layers_path}.{l}.{a.down_path}"
        out.setdefault(name, []).append(a._index(r, c))
    return out


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
            flat = by_name[n].weight.view(-1)
            if keep_undo:
                undo.append((by_name[n].weight, idx, flat[idx].clone()))
            magnitudes.append(flat[idx].abs().float())
            flat[idx] = 0
            if (flat[idx] != 0).any():
                raise InterventionError(f"{n}: pruned weights are not zero")
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


def _official_per_tensor(mods, sw_pos: dict, amount: float) -> tuple[list[tuple[str, torch.Tensor]], dict]:
    """The official per-tensor selection: flat indices with |w| >= the k-th largest |w| of the tensor
    (k = int(numel * amount), super weights ranked), minus the super weights, which are kept."""
    chosen, ties, sw_ranked = [], 0, []
    for n, m in mods:
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
    return chosen, {"ties_beyond_k": ties, "super_weights_ranked_and_kept": sw_ranked}


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
            if keep_undo:
                undo.append((p, idx, flat[idx].clone()))
            magnitudes.append(flat[idx].abs().float())
            flat[idx] = 0
            if (flat[idx] != 0).any():
                raise InterventionError(f"{name}: pruned weights are not zero")
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
        for param, idx, vals in summary.pop("_undo"):
            param.data.view(-1)[idx] = vals


class RestoreSuperActivation:
    """Forward hooks that put the super activation back after its super weight(s) were zeroed.

    The original value of down_proj's output channel ``row`` is recomputed in the same forward pass
    from the layer's input and the *original* weight row, so it is the unmodified model's value for
    the same input. ``tokens``: ``max`` restores it at the token where it is largest (official code),
    ``all`` at every token (which equals not pruning: kept for tests)."""

    def __init__(self, model: nn.Module, original_rows: dict[tuple[int, int], torch.Tensor], tokens: str = "max"):
        if tokens not in ("max", "all"):
            raise ValueError(f"restore tokens must be 'max' or 'all', got {tokens!r}")
        self.model, self.rows, self.tokens = model, original_rows, tokens
        self.handles = []
        self.restored: list[dict] = []

    @classmethod
    def capture(cls, model: nn.Module, sws: Iterable[Coord], tokens: str = "max") -> "RestoreSuperActivation":
        """Copy the original weight rows of the super weights' output channels (call before pruning)."""
        a = get_adapter(model)
        rows = {}
        for l, r, _ in sws:
            rows[(l, r)] = a.down_row(model, l, r).detach().clone()
        return cls(model, rows, tokens)

    def _hook(self, layer: int, row: int, w_row: torch.Tensor, bias):
        def fn(mod, inp, out):
            x = inp[0]
            flat = out.dim() == 2  # OPT runs its MLP on (batch * tokens, features)
            if flat:
                x, out = x[None], out[None]
            orig = x @ w_row.to(x.dtype) + (bias[row] if bias is not None else 0)  # (B, T)
            out = out.clone()
            if self.tokens == "all":
                out[..., row] = orig
            else:
                t = orig.abs().argmax(dim=-1)  # per sequence
                b = torch.arange(out.shape[0], device=out.device)
                out[b, t, row] = orig[b, t]
                if len(self.restored) < 8:
                    self.restored.append({"layer": layer, "row": row, "token": t.tolist(), "value": orig[b, t].tolist()})
            return out[0] if flat else out
        return fn

    def __enter__(self):
        a = get_adapter(self.model)
        for (l, r), w_row in self.rows.items():
            mod = a.down_proj(self.model, l)
            self.handles.append(mod.register_forward_hook(self._hook(l, r, w_row, getattr(mod, "bias", None))))
        return self

    def attach(self):
        return self.__enter__()

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []
