"""Is the super weight special, or would any large weight do? Prune N random sets of other outliers matched
to the super weights and rank the super weight's perplexity ratio among theirs (an empirical p-value).

Matched sets (super weights never drawn):
- ``same_matrix``: per super weight, one weight drawn from the top ``matrix_pool`` magnitudes of its own down
  projection (so the count per matrix matches);
- ``model_top``: as many weights as super weights, drawn from the top ``model_fraction`` of all decoder linear
  weights ranked globally;
and, once, the paper's own comparison set: the ``prune_nonsw`` rule (~7,000 largest weights for Llama-7B)."""
from __future__ import annotations

import logging
import math
from typing import Iterable

import torch
from torch import nn

from superweight.models.adapters import get_adapter
from superweight.interventions.edits import InterventionError, prune_nonsw, undo_prune, zeroed
from superweight.scoring.perplexity import perplexity

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]
KINDS = ("same_matrix", "model_top")
ALPHA = 0.05


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


def p_value(sw_ratio: float, ratios: list[float]) -> float:
    """Empirical p-value of the super weight's ratio against the random sets': (1 + #{random >= sw}) / (N + 1)."""
    return (1 + sum(1 for r in ratios if r >= sw_ratio)) / (len(ratios) + 1)


def significance(model: nn.Module, ids: torch.Tensor, sws: Iterable[Coord], seqlen: int, windows: int,
                 n_sets: int = 19, seed: int = 0, matrix_pool: int = 100, model_fraction: float = 1e-4,
                 nonsw_rule: str = "fraction", nonsw_amount: float = 1e-6) -> dict:
    """Perplexity ratios (pruned / original) of the super weights, of ``n_sets`` random matched sets per kind, and of
    the prune_nonsw set, with the empirical p-value per kind. Every set is put back after it is scored."""
    sws = list(sws)
    ppl = lambda: perplexity(model, ids, seqlen, windows, progress=False)  # noqa: E731
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
        out["kinds"][kind] = {"sets": sets, "p_value": p_value(out["sw"]["ratio"], ratios),
                              "max_ratio": max(ratios), "median_ratio": float(torch.tensor(ratios).median())}
        log.info("%s: super weight ratio %.4g; random sets max %.4g; p = %.3g", kind, out["sw"]["ratio"],
                 max(ratios), out["kinds"][kind]["p_value"])
    summary = prune_nonsw(model, sws, nonsw_rule, nonsw_amount, keep_undo=True)
    try:
        r = ppl()
    finally:
        undo_prune(model, summary)
    out["paper_set"] = {"rule": nonsw_rule, "amount": nonsw_amount, "n_pruned": summary["n_pruned"], **_brief(r),
                        "ratio": r["ppl"] / base["ppl"]}
    out["min_p"] = 1 / (n_sets + 1)
    return out


def _brief(p: dict) -> dict:
    return {k: p[k] for k in ("ppl", "nll_mean", "tokens", "windows", "seqlen", "window_nll")}


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


def verdict_significance(result: dict | None, alpha: float = ALPHA, reason: str | None = None) -> dict:
    """Claim: pruning the super weights hurts more than pruning other outliers of the same count. Test: the
    empirical p-value (1 + #{random >= sw}) / (N + 1) of the super weights' perplexity ratio against N random
    matched sets, for each kind (same matrix's top magnitudes; the model's top fraction). holds: p <= alpha for
    every kind and the paper's ~7,000-outlier set hurts less than the super weights; fails: some p > alpha with
    N large enough to reach alpha, or the paper's set hurts at least as much; inconclusive: 1/(N+1) > alpha and
    no random set reached the super weights (the run is too small to decide)."""
    test = " ".join(verdict_significance.__doc__.split())
    if not result:
        return {"verdict": "not applicable", "evidence": reason or "no confirmed super weight", "test": test}
    ps = {k: v["p_value"] for k, v in result["kinds"].items()}
    sw, paper = result["sw"]["ratio"], result["paper_set"]["ratio"]
    ev = (f"super weights ppl x{sw:.4g}; " + "; ".join(
        f"{k}: max of {result['n_sets']} random sets x{v['max_ratio']:.4g}, p = {ps[k]:.3g}" for k, v in result["kinds"].items())
        + f"; paper's set ({result['paper_set']['n_pruned']} weights) x{paper:.4g}; resolution 1/(N+1) = {result['min_p']:.3g}")
    if paper >= sw or any(p > result["min_p"] and p > alpha for p in ps.values()):
        v = "fails"  # a random set (or the paper's set) hurt as much as the super weights
    elif any(p > alpha for p in ps.values()):
        v = "inconclusive"  # no random set reached the super weights, but N is too small for p <= alpha
    else:
        v = "holds"
    return {"verdict": v, "evidence": ev, "p_values": ps, "alpha": alpha, "test": test}
