"""The skip-connection ablation: the super weights kept, their layer's row-channel contribution removed from the
residual stream (the super activation cut from the skip connection), against zeroing the super weights.

Reads the MLP's output through the family adapter (``mlp_out``). Measurements only: the claims table
(superweight.report.claims_mechanism, mechanism_skip) computes the share and its interval from the stored
per-window NLLs."""
from __future__ import annotations

import logging
import math
from typing import Iterable

import torch
from torch import nn

from superweight.models.adapters import get_adapter

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]


class SkipAblation:
    """Keep the super weights but remove their layer's contribution in the row channel from the residual stream
    entering layer ``layer + offset`` (offset 1: right at the layer's own residual add, so no later layer sees
    the super activation; larger offsets let it travel the skip connection up to that layer).

    The contribution is what the layer's MLP adds to the residual in channel ``row`` (the adapter's ``mlp_out``),
    captured in the same forward pass. ``tokens``: ``all`` subtracts it at every token, ``max`` only where it is
    largest (the super activation's token)."""

    def __init__(self, model: nn.Module, sws: Iterable[Coord], offset: int, tokens: str = "all"):
        if tokens not in ("all", "max"):
            raise ValueError(f"skip tokens must be 'all' or 'max', got {tokens!r}")
        if offset < 1:
            raise ValueError(f"skip offset must be at least 1 (the layer after the super weight's), got {offset}")
        self.model, self.offset, self.tokens = model, offset, tokens
        self.a = get_adapter(model)
        n = len(self.a.layers(model))
        targets = sorted({(l, r) for l, r, _ in sws})
        self.targets = [(l, r) for l, r in targets if l + offset < n]
        self.kept = [(l, r) for l, r in targets if l + offset >= n]  # no layer after them to remove it from
        if not self.targets:
            raise ValueError(f"offset {offset} puts the removal past the last layer for every super weight ({n} layers)")
        if self.kept:
            log.warning("offset %d: %s left in place (no layer L + %d in a %d-layer model)", offset, self.kept, offset, n)
        self.handles, self.caught, self.log = [], {}, []

    def _capture(self, l, r):
        def fn(mod, inp, out):
            self.caught[(l, r)] = out[..., r].detach().clone()
        return fn

    def _subtract(self, k, targets):
        def fn(mod, args, kwargs):
            h = args[0] if args else kwargs["hidden_states"]
            h = h.clone()
            for l, r in targets:
                c = self.caught.pop((l, r)).reshape(h.shape[:-1]).to(h.dtype)
                if self.tokens == "max":
                    keep = torch.zeros_like(c)
                    t = c.abs().argmax(-1)
                    b = torch.arange(c.shape[0], device=c.device)
                    keep[b, t] = c[b, t]
                    c = keep
                before = h[..., r].clone()
                h[..., r] -= c
                i = int(c.abs().flatten().argmax())
                if len(self.log) < 16:
                    self.log.append({"from_layer": k, "layer": l, "row": r, "max_abs_removed": float(c.abs().max()),
                                     "residual_before": float(before.flatten()[i]), "residual_after": float(h[..., r].flatten()[i])})
                if c.abs().max() > 0 and torch.equal(before, h[..., r]):
                    raise RuntimeError(f"skip ablation at layer {k} changed nothing in channel {r}")
            if args:
                return (h, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": h}
        return fn

    def __enter__(self):
        by_k: dict[int, list] = {}
        for l, r in self.targets:
            self.handles.append(self.a.mlp_out(self.model, l).register_forward_hook(self._capture(l, r)))
            by_k.setdefault(l + self.offset, []).append((l, r))
        layers = self.a.layers(self.model)
        for k, targets in by_k.items():
            self.handles.append(layers[k].register_forward_pre_hook(self._subtract(k, targets), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []


def skip_conditions(n_layers: int, sws: Iterable[Coord], offsets: Iterable[int]) -> list[dict]:
    """The conditions of the skip experiment: original, prune_sw, and the removal at each offset that stays inside
    the model for at least one super weight. ``from_layer`` is the earliest super weight's layer + offset;
    ``left_in_place`` lists the (layer, row) whose layer + offset is past the last layer."""
    layers = sorted({(l, r) for l, r, _ in sws})
    conds = [{"condition": "original"}, {"condition": "prune_sw"}]
    for o in sorted(set(offsets)):
        if layers[0][0] + o < n_layers:
            conds.append({"condition": f"skip_from_L+{o}", "offset": o, "from_layer": layers[0][0] + o,
                          "left_in_place": [list(t) for t in layers if t[0] + o >= n_layers]})
    return conds


def skip_experiment(model: nn.Module, tok, ids: torch.Tensor, prompts: list[str], sws: Iterable[Coord], seqlen: int,
                    windows: int, offsets: Iterable[int], tokens: str = "all", order: str = "first",
                    articles: list[int] | None = None) -> list[dict]:
    """Perplexity (per-window NLL kept) and the stopword shift for: original, prune_sw, and the skip ablation at
    each offset (super weights kept). The stopword shift compares each condition's mean next-token distribution
    on ``prompts`` with the original's. ``fraction_of_prune_sw``: the share of prune-SW's rise in mean window NLL
    that each removal reproduces (a point value). ``order`` / ``articles``: which windows and their articles
    (scoring.perplexity.perplexity). The model is left as it was."""
    import contextlib

    from superweight.analysis.stopwords import mean_next_token_probs, stopword_table
    from superweight.interventions.edits import zeroed
    from superweight.scoring.perplexity import perplexity

    sws = list(sws)
    n_layers = len(get_adapter(model).layers(model))
    rows, p_orig = [], None
    for cond in skip_conditions(n_layers, sws, offsets):
        name = cond["condition"]
        ctx = (contextlib.nullcontext() if name == "original" else zeroed(model, sws) if name == "prune_sw"
               else SkipAblation(model, sws, cond["offset"], tokens))
        with ctx as sk:
            ppl = perplexity(model, ids, seqlen, windows, progress=False, order=order, articles=articles)
            probs = mean_next_token_probs(model, tok, prompts, name) if prompts else None
            removed = sk.log[:4] if isinstance(sk, SkipAblation) else None
        if name == "original":
            p_orig = probs
        row = {**cond, "tokens": tokens if "offset" in cond else None, "ppl": ppl["ppl"], "nll_mean": ppl["nll_mean"],
               "windows": ppl["windows"], "seqlen": seqlen, "window_nll": ppl["window_nll"], "removed": removed,
               **{k: ppl[k] for k in ("window_start", "window_article") if k in ppl}}
        if probs is not None:
            _, summ = stopword_table(tok, p_orig, probs, top_k=1)
            row.update({"n_prompts": len(prompts), "stopword_mass": summ["stopword_mass_no_super_weight"],
                        "stopword_mass_ratio": summ["stopword_mass_ratio"],
                        **{f"ratio_{w}": summ.get(f"ratio_{w}") for w in ("the", ".", ",")}})
        rows.append(row)
        log.info("%s: ppl %.4g%s", name, ppl["ppl"], f", stopword mass x{row.get('stopword_mass_ratio', math.nan):.3g}")
    base, prune = rows[0], rows[1]
    rise = prune["nll_mean"] - base["nll_mean"]
    for r in rows:
        r["ppl_ratio"] = r["ppl"] / base["ppl"]
        if "offset" in r:  # point value only: claims_mechanism gives its interval
            r["fraction_of_prune_sw"] = (r["nll_mean"] - base["nll_mean"]) / rise if rise else math.nan
    return rows
