"""Is the super weight special, or would any large weight do? Prune N random sets of other outliers matched
to the super weights and count how many hurt at least as much as the super weights. Measurements only: the claims
table (superweight.report.claims_mechanism, mechanism_significance) tests them.

Matched sets (super weights never drawn):
- ``same_matrix``: per super weight, one weight drawn from the top ``matrix_pool`` magnitudes of its own down
  projection (so the count per matrix matches);
- ``model_top``: as many weights as super weights, drawn from the top ``model_fraction`` of all decoder linear
  weights ranked globally;
and, once, the paper's own comparison set: the ``prune_nonsw`` rule (~7,000 largest weights for Llama-7B)."""
from __future__ import annotations

import logging
from typing import Iterable

import torch
from torch import nn

from superweight.models.adapters import get_adapter
from superweight.interventions.edits import InterventionError, prune_nonsw, undo_prune, zeroed
from superweight.scoring.perplexity import perplexity

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]
KINDS = ("same_matrix", "model_top")


def _modules(model) -> dict[str, nn.Module]:
    return {n: m for n, m, _ in get_adapter(model).linear_modules(model)}


def _sw_flat(model, sws) -> dict[str, set[int]]:
    """Flat storage indices of the super weights, per module name."""
    a = get_adapter(model)
    out: dict[str, set[int]] = {}
    for l, r, c in sws:
        w = a.down_proj(model, l).weight
        i, j = (c, r) if a.transposed else (r, c)
        out.setdefault(f"{a.layers_path}.{l}.{a.down_path}", set()).add(i * w.shape[1] + j)
    return out


def _top(w: torch.Tensor, k: int, exclude: set[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(|values|, flat indices) of the k largest |w|, never an excluded index."""
    a = w.detach().abs().flatten().float().clone()
    if exclude:
        a[torch.tensor(sorted(exclude))] = -1.0
    vals, idx = torch.topk(a, min(k, a.numel()))
    keep = vals >= 0
    return vals[keep], idx[keep]


def pools(model: nn.Module, sws: Iterable[Coord], matrix_pool: int = 100, model_fraction: float = 1e-4) -> dict:
    """The candidate weights of each matched kind: {"same_matrix": {module: indices}, "model_top": [(module, index)]}."""
    a = get_adapter(model)
    sws = list(sws)
    mods = _modules(model)
    excl = _sw_flat(model, sws)
    same = {}
    for l, _, _ in sws:
        name = f"{a.layers_path}.{l}.{a.down_path}"
        same[name] = _top(mods[name].weight, matrix_pool, excl.get(name, set()))[1]
    total = sum(m.weight.numel() for m in mods.values())
    k = int(total * model_fraction)
    if k < len(sws):
        raise ValueError(f"model_fraction {model_fraction} gives a pool of {k} weights, fewer than the {len(sws)} "
                         "super weights; raise mechanism.significance.model_fraction")
    cands = []
    for n, m in mods.items():
        vals, idx = _top(m.weight, k, excl.get(n, set()))
        cands += [(float(v), n, int(i)) for v, i in zip(vals, idx)]
    cands.sort(key=lambda x: -x[0])
    return {"same_matrix": same, "model_top": [(n, i) for _, n, i in cands[:k]], "model_pool_size": k,
            "model_pool_min_abs": cands[k - 1][0] if cands else None}


def draw(model, sws, pool: dict, kind: str, gen: torch.Generator) -> list[tuple[str, int]]:
    """One random matched set: (module name, flat index) pairs, the same count as the super weights."""
    sws = list(sws)
    if kind == "same_matrix":
        a = get_adapter(model)
        need: dict[str, int] = {}
        for l, _, _ in sws:
            name = f"{a.layers_path}.{l}.{a.down_path}"
            need[name] = need.get(name, 0) + 1
        out = []
        for name, n in need.items():
            idx = pool["same_matrix"][name]
            if len(idx) < n:
                raise ValueError(f"{name}: a pool of {len(idx)} weights cannot supply {n}; raise matrix_pool")
            out += [(name, int(idx[j])) for j in torch.randperm(len(idx), generator=gen)[:n]]
        return out
    if kind == "model_top":
        cand = pool["model_top"]
        return [cand[j] for j in torch.randperm(len(cand), generator=gen)[:len(sws)].tolist()]
    raise ValueError(f"unknown matched kind {kind!r}; use one of {', '.join(KINDS)}")


class pruned:
    """Zero the given (module, flat index) weights; put them back bit-exactly on exit."""

    def __init__(self, model, positions: list[tuple[str, int]]):
        self.mods, self.positions = _modules(model), positions
        self.saved: list[float] = []

    def __enter__(self):
        with torch.no_grad():
            for n, i in self.positions:
                flat = self.mods[n].weight.view(-1)
                self.saved.append(flat[i].clone())
                if flat[i] == 0:
                    raise InterventionError(f"{n}[{i}] is already 0: pruning it would change nothing")
                flat[i] = 0
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for (n, i), v in zip(self.positions, self.saved):
                self.mods[n].weight.view(-1)[i] = v


def at_least(sw_ratio: float, ratios: list[float]) -> int:
    """How many random sets' perplexity ratios are at least the super weights'."""
    return sum(1 for r in ratios if r >= sw_ratio)


def significance(model: nn.Module, ids: torch.Tensor, sws: Iterable[Coord], seqlen: int, windows: int,
                 n_sets: int = 19, seed: int = 0, matrix_pool: int = 100, model_fraction: float = 1e-4,
                 nonsw_rule: str = "fraction", nonsw_amount: float = 1e-6, order: str = "first",
                 articles: list[int] | None = None) -> dict:
    """Perplexity ratios (pruned / original, per-window NLLs kept) of the super weights, of ``n_sets`` random matched
    sets per kind (with how many hurt at least as much), and of the prune_nonsw set; ``order`` / ``articles``:
    which windows and their articles (scoring.perplexity.perplexity). Every set is put back after it is scored."""
    sws = list(sws)
    ppl = lambda: perplexity(model, ids, seqlen, windows, progress=False, order=order, articles=articles)  # noqa: E731
    base = ppl()
    with zeroed(model, sws):
        sw = ppl()
    out = {"original": _brief(base), "super_weights": [list(c) for c in sws],
           "sw": {**_brief(sw), "ratio": sw["ppl"] / base["ppl"]}, "n_sets": n_sets, "seed": seed,
           "matrix_pool": matrix_pool, "model_fraction": model_fraction, "kinds": {}}
    pool = pools(model, sws, matrix_pool, model_fraction)
    out["model_pool_size"], out["model_pool_min_abs"] = pool["model_pool_size"], pool["model_pool_min_abs"]
    mods = _modules(model)
    for j, kind in enumerate(KINDS):
        gen = torch.Generator().manual_seed(seed * 1000 + j)
        sets = []
        for s in range(n_sets):
            pos = draw(model, sws, pool, kind, gen)
            vals = [float(mods[n].weight.detach().view(-1)[i]) for n, i in pos]
            with pruned(model, pos):
                r = ppl()
            sets.append({"set": s, "weights": [[n, i, v] for (n, i), v in zip(pos, vals)], **_brief(r),
                         "ratio": r["ppl"] / base["ppl"]})
        ratios = [x["ratio"] for x in sets]
        out["kinds"][kind] = {"sets": sets, "n_at_least_sw": at_least(out["sw"]["ratio"], ratios),
                              "max_ratio": max(ratios), "median_ratio": float(torch.tensor(ratios).median())}
        log.info("%s: super weight ratio %.4g; random sets max %.4g; %d of %d at least as high", kind,
                 out["sw"]["ratio"], max(ratios), out["kinds"][kind]["n_at_least_sw"], n_sets)
    summary = prune_nonsw(model, sws, nonsw_rule, nonsw_amount, keep_undo=True)
    try:
        r = ppl()
    finally:
        undo_prune(model, summary)
    out["paper_set"] = {"rule": nonsw_rule, "amount": nonsw_amount, "n_pruned": summary["n_pruned"], **_brief(r),
                        "ratio": r["ppl"] / base["ppl"]}
    return out


def _brief(p: dict) -> dict:
    return {k: p[k] for k in ("ppl", "nll_mean", "tokens", "windows", "seqlen", "window_nll", "window_start",
                              "window_article") if k in p}


def rows(result: dict) -> list[dict]:
    """One row per scored set (super weights, each random set, the paper's set), for the CSV."""
    out = [{"kind": "super_weights", "set": 0, "n_weights": len(result["super_weights"]), "ppl": result["sw"]["ppl"],
            "ratio": result["sw"]["ratio"]}]
    for kind, k in result["kinds"].items():
        out += [{"kind": kind, "set": s["set"], "n_weights": len(s["weights"]), "ppl": s["ppl"], "ratio": s["ratio"]}
                for s in k["sets"]]
    p = result["paper_set"]
    out.append({"kind": "paper_set", "set": 0, "n_weights": p["n_pruned"], "ppl": p["ppl"], "ratio": p["ratio"]})
    return out
