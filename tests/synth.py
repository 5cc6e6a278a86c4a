"""Synthetic result files (the scores.json schema) whose true accuracies and perplexities the tests choose.

Documents are paired across conditions as in a real run: document i of a task has one latent difficulty u_i
(the same for every condition of a model), and is answered right when u_i < p. Windows likewise share a latent
per-window NLL offset."""
from __future__ import annotations

import math

import numpy as np
from superweight.detect.used import NONE_USED

TASKS = ("arc_challenge", "arc_easy", "hellaswag", "lambada_openai", "piqa", "sciq", "winogrande")


def docs(p: float, n: int, task: str, seed: int = 0) -> list[float]:
    u = np.random.default_rng([seed, TASKS.index(task) if task in TASKS else 99]).random(n)
    return [float(x < p) for x in u]


def windows(ppl: float, n: int, seed: int = 0, spread: float = 0.1) -> list[float]:
    z = np.random.default_rng([seed, 1000]).standard_normal(n)
    z = (z - z.mean()) if n > 1 else z * 0
    return [math.log(ppl) + spread * float(x) for x in z]


def scores(acc: dict[str, float] | float | None = 0.5, n: int = 40, ppl: dict[str, float] | float | None = 30.0,
           n_windows: int = 8, seed: int = 0, seqlen: int = 512) -> dict:
    """A scores block: every task at accuracy ``acc`` (exactly, as a share of n documents: rounding aside) and every
    corpus at perplexity ``ppl``."""
    out = {"perplexity": {}, "tasks": {}}
    if acc is not None:
        acc = acc if isinstance(acc, dict) else {t: acc for t in TASKS}
        for t, p in acc.items():
            d = docs(p, n, t, seed)
            a = sum(d) / n
            out["tasks"][t] = {"acc": a, "acc_se": math.sqrt(a * (1 - a) / n), "n": n, "limit": n,
                               "docs": {"doc_id": list(range(n)), "acc": d}}
        out["avg_acc"] = float(np.mean([v["acc"] for v in out["tasks"].values()]))
    if ppl is not None:
        ppl = ppl if isinstance(ppl, dict) else {"wikitext2": ppl}
        for c, v in ppl.items():
            w = windows(v, n_windows, seed)
            m = float(np.mean(w))
            out["perplexity"][c] = {"ppl": math.exp(m), "nll_mean": m, "tokens": n_windows * (seqlen - 1),
                                    "windows": n_windows, "seqlen": seqlen, "nonfinite_tokens": 0,
                                    "window_nll": w, "window_tokens": seqlen - 1}
    return out


def result(model: str = "m", kind: str = "ablation", status: str = "done", reason: str = "", **spec) -> dict:
    """A result file; ``spec`` holds the experiment's keys (condition, factor, method, bits, block) and the
    scores() arguments (acc, n, ppl, n_windows, seed)."""
    sargs = {k: spec.pop(k) for k in ("acc", "n", "ppl", "n_windows", "seed") if k in spec}
    r = {"model": model, "kind": kind, **spec, "status": status}
    if status == "skipped":
        r["reason"] = reason or NONE_USED
        return r
    r["scores"] = scores(**sargs)
    r["intervention"] = {}
    if spec.get("condition") == "prune_nonsw":
        r["intervention"]["prune_nonsw"] = {"n_pruned": 106, "rule": "fraction", "amount": 1e-6}
    if spec.get("condition") in ("prune_sw", "prune_sw_restore_sa"):
        r["intervention"]["super_weights"] = [[2, 7, 3]]
    if kind == "wquant":
        r["intervention"].update(mean_rel_error=0.1, z=9)
    return r
