"""Confirmation of detection candidates by ablation on real text: which candidates are super weights.

Rule, mode ``joint`` (the default):

1. every candidate is zeroed alone; it is *confirmed alone* when perplexity rises by ``factor`` or more;
2. the candidates that fail alone and write the same residual channel (the same ``row``, in any layer) form a
   group, zeroed together. Those confirmed alone are left out of it: a dominant weight would make the group pass
   and hide whether the others matter (ablating it already breaks the model);
3. a group of two or more that reaches ``factor`` is reduced by backward elimination with leave-one-out: each round
   puts every member back in turn (the set less that member zeroed), then drops, least needed first, each member
   whose removal leaves a set that still reaches ``factor`` (one pass per removal); rounds repeat until none can go.
   The set left is *confirmed in group*: each of its members is needed (without any one it falls below
   ``factor``). The dropped members are *not needed in group*;
4. sets across rows: the candidates still below the factor (in no passing group) are grouped again by a shared
   column of one layer, then by a shared layer, then all together, each new set (one not tested before) zeroed
   and, when it reaches ``factor``, reduced as in 3. Phi-3's super weights (Table 2: three rows sharing one column
   in each of two layers) can matter only as the whole set: no row, column or layer group reaches the factor, the
   whole list does, and leave-one-out keeps every member that is needed.

Mode ``single`` is step 1 only (the project's earlier rule). A candidate confirmed alone is confirmed in both
modes, so ``joint`` only adds weights that matter as a set. Not covered: a weight that matters only together with
one that is confirmed alone.
The ablations' perplexities: ``detect.ablations``.
"""
from __future__ import annotations

import logging
from collections import defaultdict

import torch
from torch import nn

from superweight.detect.ablations import Prefix, ablation_perplexities
from superweight.scoring.perplexity import windows

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]
MODES = ("joint", "single")


def channel_groups(coords: list[Coord]) -> dict[int, list[Coord]]:
    """Coordinates writing the same residual channel (row), across layers; only groups of two or more."""
    groups: dict[int, list[Coord]] = defaultdict(list)
    for c in coords:
        groups[c[1]].append(c)
    return {r: sorted(g) for r, g in sorted(groups.items()) if len(g) > 1}


GROUP_KINDS = ("row", "column", "layer", "all")


def _groups(kind: str, coords: list[Coord]) -> dict:
    """Candidates that share a row (residual channel, any layer), a column of one layer, a layer, or all of them:
    key -> members, only groups of two or more."""
    if kind == "row":
        return channel_groups(coords)
    key = {"column": lambda c: (c[0], c[2]), "layer": lambda c: c[0], "all": lambda c: "all"}[kind]
    groups: dict = defaultdict(list)
    for c in coords:
        groups[key(c)].append(c)
    return {k: sorted(g) for k, g in sorted(groups.items(), key=lambda kv: str(kv[0])) if len(g) > 1}


def _what(kind: str, key) -> str:
    return {"row": lambda: f"channel {key}", "column": lambda: f"column {key[1]} of layer {key[0]}",
            "layer": lambda: f"layer {key}", "all": lambda: "all unconfirmed candidates"}[kind]()


def _shares(kind: str, key, c: Coord) -> bool:
    return {"row": lambda: c[1] == key, "column": lambda: (c[0], c[2]) == tuple(key), "layer": lambda: c[0] == key,
            "all": lambda: True}[kind]()


def _eliminate(kind, key, g, coords, out, ratio, run, factor, groups_rec) -> None:
    """One group zeroed together; if it reaches ``factor``, backward elimination with leave-one-out (module rule)."""
    what = _what(kind, key)
    gr = ratio(g)
    rec = {"kind": kind, "key": list(key) if isinstance(key, tuple) else key,
           "channel": key if kind == "row" else None, "members": [list(c) for c in g], "ppl_ratio": gr,
           "passed": gr >= factor,
           "left_out_confirmed_alone": [list(c) for c in coords
                                        if _shares(kind, key, c) and out[c]["status"] == "confirmed alone"],
           "elimination": [], "confirmed": []}
    groups_rec.append(rec)
    for m in g:
        if out[m]["group_ratio"] is None or gr >= factor:
            out[m]["group_ratio"] = gr
    if gr < factor:
        for m in g:
            out[m]["reason"] += f"; its group of {what} ({len(g)}) zeroed: x{gr:.3g} < {factor:g}"
        return
    kept = list(g)  # backward elimination, least needed first, while the rest still passes
    while True:
        run([frozenset(kept) - {m} for m in kept], lambda s: f"{what}: set of {len(s)}")
        loo = {m: ratio(set(kept) - {m}) for m in kept}
        rnd = {"set": [list(c) for c in kept], "ppl_ratio": ratio(kept),
               "leave_one_out": [{"without": list(m), "ppl_ratio": loo[m]} for m in kept], "removed": []}
        rec["elimination"].append(rnd)
        for m in sorted((m for m in kept if loo[m] >= factor), key=lambda m: -loo[m]):
            rest = set(kept) - {m}
            run([frozenset(rest)], lambda s: f"{what}: set of {len(s)}")  # one pass per removal
            if len(kept) == 1 or ratio(rest) < factor:
                continue
            rnd["removed"].append(list(m))
            out[m]["loo_ratio"] = ratio(rest)
            out[m]["status"] = "not needed in group"
            out[m]["reason"] = (f"group of {what} ({len(g)}) zeroed: x{gr:.3g} >= {factor:g}; a set of "
                                f"{len(rest)} without it still reaches x{ratio(rest):.3g}; alone "
                                f"x{out[m]['ppl_ratio']:.3g}")
            log.info("%s: %s not needed (the other %d reach x%.3g)", what, _fmt(m), len(rest), ratio(rest))
            kept = sorted(rest)
        if not rnd["removed"]:  # every member is needed: without any one the set falls below the factor
            for m in kept:
                out[m]["loo_ratio"] = loo[m]
            break
    rec["confirmed"] = [list(c) for c in kept]
    for m in kept:
        out[m]["status"] = "confirmed in group"
        out[m]["reason"] = (f"group of {what} ({len(g)}) zeroed: x{gr:.3g} >= {factor:g}; needed in "
                            f"the set of {len(kept)} (x{ratio(kept):.3g}): without it x{loo[m]:.3g} < "
                            f"{factor:g}; alone x{out[m]['ppl_ratio']:.3g}")


def _fmt(c: Coord) -> str:
    return f"layer {c[0]} [{c[1]}, {c[2]}]"


def confirm_candidates(model: nn.Module, coords: list[Coord], ids: torch.Tensor, seqlen: int,
                       max_windows: int | None, factor: float = 2.0, mode: str = "joint",
                       batch_size: int = 4, reuse_prefix: bool = True) -> dict:
    """Apply the module's rule to the candidates ``coords``. Returns ``{"base_ppl", "per_candidate": {coord:
    {ppl_ratio, status, reason, group_ratio, loo_ratio}}, "groups": [...], "ablations": [...]}`` where
    ``ablations`` holds every perplexity measured (zeroed set, ppl, per-window NLL). ``reuse_prefix``: ablations
    start at their first zeroed layer from the unmodified model's hidden states (same perplexities, less work)."""
    if mode not in MODES:
        raise ValueError(f"detection.confirm.mode must be one of {', '.join(MODES)}, got {mode!r}")
    if batch_size < 1:
        raise ValueError(f"detection.confirm.batch_size must be at least 1, got {batch_size}")
    cache: dict[frozenset, dict] = {}

    def run(sets: list[frozenset], label) -> None:
        todo = [s for s in dict.fromkeys(sets) if s not in cache]
        if not todo:
            return

        def done(i, res):
            cache[todo[i]] = res
            base = cache.get(frozenset())
            what = label(todo[i])
            if not todo[i]:
                log.info("confirmation: %s: ppl %.4g", what, res["ppl"])
            else:
                log.info("confirmation %d/%d: %s zeroed: ppl %.4g (x%.3g)", i + 1, len(todo), what, res["ppl"],
                         res["ppl"] / base["ppl"])

        ablation_perplexities(model, ids, seqlen, max_windows, todo, batch_size, done, prefix)

    n = len(coords)
    n_windows = len(windows(len(ids), seqlen, max_windows))
    prefix = Prefix(model, {c[0] for c in coords}, n_windows, seqlen) if reuse_prefix else None
    log.info("confirmation (%s, factor %g): %d candidate(s), %d window(s) of %d tokens, %d sequence(s) per forward",
             mode, factor, n, n_windows, seqlen, batch_size)
    run([frozenset()], lambda s: "original model")
    base = cache[frozenset()]["ppl"]
    run([frozenset([c]) for c in coords], lambda s: _fmt(next(iter(s))))

    def ratio(s) -> float:
        return cache[frozenset(s)]["ppl"] / base

    out: dict[Coord, dict] = {}
    for c in coords:
        r = ratio([c])
        ok = r >= factor
        out[c] = {"ppl_ratio": r, "group_ratio": None, "loo_ratio": None,
                  "status": "confirmed alone" if ok else "below factor",
                  "reason": f"zeroed alone: ppl x{r:.3g} {'>=' if ok else '<'} {factor:g}"}
    groups_rec = []
    if mode == "joint":
        for kind in GROUP_KINDS:  # rows first, then sets across rows, each from the candidates still unconfirmed
            pool = [c for c in coords if out[c]["status"] == "below factor"]
            groups = {k: g for k, g in _groups(kind, pool).items() if frozenset(g) not in cache}
            run([frozenset(g) for g in groups.values()], lambda s, kind=kind: f"{kind} group ({len(s)})")
            for key, g in groups.items():
                _eliminate(kind, key, g, coords, out, ratio, run, factor, groups_rec)
    for c in coords:
        log.info("%s: %s (%s)", _fmt(c), out[c]["status"], out[c]["reason"])
    if prefix is not None:
        n_layers = len(prefix.blocks)
        total = n_layers * n_windows * len(cache)
        log.info("confirmation: %d of %d layer passes over a window started from the unmodified model's hidden "
                 "states (%.0f%% of the decoder's work skipped)", prefix.skipped_layers, total,
                 100 * prefix.skipped_layers / max(total, 1))
    return {"base_ppl": base, "per_candidate": out, "groups": groups_rec,
            "ablations": [{**v, "ppl_ratio": v["ppl"] / base} for v in cache.values()]}
