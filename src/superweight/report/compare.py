"""Comparisons between result files (scores.json) with their uncertainty: documents paired by doc_id, perplexity
windows paired when both runs scored the same windows. Shared by the tables and the claim verdicts.

A comparison with a condition scored in looks (config `sequential`, its ``scores.sequential`` record) is read on
the common prefix cut to a look of that design, with the design's p-value and repeated confidence interval
(stats.sequential.on_design): a fixed-sample test there would not keep its error rate."""
from __future__ import annotations

import math

import numpy as np

from superweight.provenance import as_float
from superweight.stats.sequential import Design, from_record, last_look, on_design
from superweight.stats.intervals import (LEVEL, MIN_N, NA, TABLE_MIN_N, Estimate, acc_linear, acc_share,
                                         fieller_units, ppl_ci, ppl_ratio_ci)

# accuracy of uniform guessing per task (ARC: most questions have 4 choices; LAMBADA is open-ended)
CHANCE = {"arc_challenge": 0.25, "arc_easy": 0.25, "hellaswag": 0.25, "lambada_openai": 0.0, "piqa": 0.5,
          "sciq": 0.25, "winogrande": 0.5, "boolq": 0.5}


def _scores(r: dict) -> dict:
    return r.get("scores", r)


def done(r: dict | None) -> bool:
    return bool(r) and r.get("status", "done") != "skipped" and "scores" in r


def task_docs(r: dict, task: str, metric: str = "acc") -> dict[int, float] | None:
    """{doc_id: outcome} of one task, or None when the result has no per-document values."""
    t = _scores(r).get("tasks", {}).get(task)
    if not t or "docs" not in t or metric not in t["docs"]:
        return None
    return dict(zip(t["docs"]["doc_id"], t["docs"][metric]))


def paired_docs(results: list[dict], metric: str = "acc", below: int | None = None
                ) -> tuple[list[str], list[np.ndarray]]:
    """Tasks scored in every result, and per task an array (documents, conditions) over the doc_ids they share
    (those below ``below`` when given)."""
    tasks = [t for t in _scores(results[0]).get("tasks", {}) if all(task_docs(r, t, metric) for r in results)]
    groups = []
    for t in tasks:
        docs = [task_docs(r, t, metric) for r in results]
        ids = sorted(i for i in set.intersection(*(set(d) for d in docs)) if below is None or i < below)
        groups.append(np.array([[d[i] for d in docs] for i in ids], dtype=float).reshape(len(ids), len(results)))
    keep = [i for i, g in enumerate(groups) if len(g)]
    return [tasks[i] for i in keep], [groups[i] for i in keep]


def sequential_design(results: list[dict], part: str, corpus: str | None = None) -> Design | NA | None:
    """The design the results scored in looks share (``part``: "windows" of ``corpus`` or "docs"), None when
    none was, NA when they name different designs (no one design's p-value is valid for both)."""
    recs = [rec for r in results for rec in [_scores(r).get("sequential", {}).get(part)] if rec]
    recs = [rec.get(corpus) if part == "windows" else rec for rec in recs]
    designs = {from_record(rec) for rec in recs if rec}
    if len(designs) > 1:
        return NA("the conditions were scored in looks of different designs: no common sequential test")
    return designs.pop() if designs else None


def look_docs(results: list[dict], metric: str = "acc"):
    """``paired_docs`` of a comparison, cut to the last look its shared documents reach when a result was scored
    in looks: (tasks, groups, the design or None, documents per task read), or an NA that says why it cannot be
    read (different designs, fewer documents than the first look, a document of 0..n-1 missing)."""
    tasks, groups = paired_docs(results, metric)
    d = sequential_design(results, "docs")
    if d is None or isinstance(d, NA) or not groups:
        return d if isinstance(d, NA) else (tasks, groups, None, 0)
    n = last_look(min(len(g) for g in groups), d)
    if n is None:
        return NA(f"fewer shared documents than the first look ({d.looks[0]})")
    tasks, groups = paired_docs(results, metric, below=n)
    if any(len(g) != n for g in groups):  # a gap in doc_id 0..n-1 would be read at a larger look's level
        return NA(f"documents 0..{n - 1} are not all scored in every condition: no look to read them at")
    return tasks, groups, d, n


def _read(est, d: Design | None, n: int):
    """``est`` as a test of the sequential design ``d`` at look size n (unchanged without a design)."""
    if d is None or not isinstance(est, Estimate):
        return est
    return on_design(est, d, n)


def avg_acc(r: dict, level: float = LEVEL) -> Estimate | None:
    """Average accuracy over tasks (unweighted, as the paper), Agresti-Coull interval per task combined;
    of a condition scored in looks, the repeated interval at its stop."""
    got = look_docs([r])
    if isinstance(got, NA):
        return got
    tasks, groups, d, n = got
    if not groups:
        return None
    return _read(acc_linear(groups, (1.0,), level, kind="acc_avg"), d, n)


def acc_diff(a: dict, b: dict, level: float = LEVEL) -> Estimate | None:
    """avg accuracy of b minus a on the documents both scored (Agresti-Min interval per task, combined). With one
    task it is one task's paired difference and gets that test's minimum (``task_diff``: its coverage falls short
    at every n, e.g. 92-94% exactly at 2-20 documents when the conditions disagree often; the ``acc_diff`` minimum
    was measured on averages over several tasks)."""
    got = look_docs([a, b])
    if isinstance(got, NA):
        return got
    tasks, groups, d, n = got
    if not groups:
        return None
    return _read(acc_linear(groups, (-1.0, 1.0), level, kind="acc_diff" if len(groups) > 1 else "task_diff"), d, n)


def chance(tasks: list[str]) -> float:
    return float(np.mean([CHANCE.get(t, 0.0) for t in tasks]))


def retained_share(orig: dict, other: dict, level: float = LEVEL) -> Estimate | NA | None:
    """Share of the original's average accuracy above chance that ``other`` keeps:
    (avg_other - chance) / (avg_orig - chance), Fieller's interval on the paired documents (stats.acc_share)."""
    got = look_docs([orig, other])
    if isinstance(got, NA):
        return got
    tasks, groups, d, n = got
    if not groups:
        return None
    c = chance(tasks)
    obs = np.mean([g.mean(0) for g in groups], axis=0)
    if obs[0] - c <= 0:
        return NA(f"the original model is not above chance ({100 * obs[0]:.1f}% vs {100 * c:.1f}%)")
    return _read(acc_share(groups, c, level), d, n)


def window_nll(r: dict, corpus: str) -> list[float] | None:
    p = _scores(r).get("perplexity", {}).get(corpus)
    if not p or "window_nll" not in p:
        return None
    return [as_float(x) for x in p["window_nll"]]


def same_windows(a: dict, b: dict, corpus: str) -> bool:
    """Both results scored the same windows of ``corpus`` (same window length, count and starts), so they pair."""
    pa, pb = _scores(a)["perplexity"][corpus], _scores(b)["perplexity"][corpus]
    return (pa.get("seqlen") == pb.get("seqlen") and pa.get("windows") == pb.get("windows")
            and pa.get("window_start") == pb.get("window_start"))


def articles(r: dict, corpus: str, n: int | None = None) -> list[int] | None:
    """The article (document) of each of the first ``n`` windows, when the result records them: windows that
    share one are one unit of the intervals."""
    w = _scores(r).get("perplexity", {}).get(corpus, {}).get("window_article")
    return None if w is None else list(w)[:n]


def ppl(r: dict, corpus: str, level: float = LEVEL, table: bool = False) -> Estimate | None:
    """Perplexity with its interval; of a condition scored in looks, the repeated interval at its stop. ``table``:
    the tables' descriptive interval of the mean (the t from TABLE_MIN_N, never the verdicts' median test)."""
    w = window_nll(r, corpus)
    if not w:
        return None
    kw = {"min_n": TABLE_MIN_N} if table else {}
    d = sequential_design([r], "windows", corpus)
    if isinstance(d, Design) and len(w) in d.looks:
        return on_design(ppl_ci(w, level, articles(r, corpus), **kw), d, len(w))
    return ppl_ci(w, level, articles(r, corpus), **kw)


def ppl_ratio(a: dict, b: dict, corpus: str, level: float = LEVEL, table: bool = False) -> Estimate | None:
    """ppl(b) / ppl(a) with a Student-t interval on the paired window log-differences when both scored the same
    windows, else Welch's; with a condition scored in looks, on the first windows both scored, cut to a look."""
    wa, wb = window_nll(a, corpus), window_nll(b, corpus)
    if not wa or not wb:
        return None
    kw = {"min_n": TABLE_MIN_N} if table else {}  # the tables: the mean's interval (see ppl)
    d = sequential_design([a, b], "windows", corpus)
    if d is None:
        paired = same_windows(a, b, corpus)
        return ppl_ratio_ci(wa, wb, paired, level, articles(a, corpus) if paired else None, **kw)
    if isinstance(d, NA):
        return d
    if _scores(a)["perplexity"][corpus].get("seqlen") != _scores(b)["perplexity"][corpus].get("seqlen"):
        return NA("scored in looks on windows of different lengths: nothing to pair")
    n = last_look(min(len(wa), len(wb)), d)
    if n is None:
        return NA(f"fewer shared windows than the first look {d.looks[0]}")
    return on_design(ppl_ratio_ci(wa[:n], wb[:n], True, level, articles(a, corpus, n), **kw), d, n)


def corpora(*results: dict) -> list[str]:
    """Corpora every result has per-window values for (WikiText-2 first)."""
    names = [c for c in _scores(results[0]).get("perplexity", {}) if all(window_nll(r, c) for r in results)]
    return sorted(names, key=lambda c: (c != "wikitext2", c))


def ppl_share(results: list[dict], corpus: str, num: tuple[int, int], den: tuple[int, int], what: str,
              level: float = LEVEL) -> Estimate | NA | None:
    """(ppl[num0] - ppl[num1]) / (ppl[den0] - ppl[den1]) over results on the same windows, e.g. the share of
    SmoothQuant's gain over naive W8A8 a method keeps; NA when the denominator is <= 0."""
    ws = [window_nll(r, corpus) for r in results]
    if not all(ws):
        return None
    if not all(same_windows(results[0], r, corpus) for r in results[1:]):
        return NA("the conditions were scored on different windows")
    x = np.array(ws, dtype=float).T  # (windows, conditions)
    p = np.exp(x.mean(0))
    d = p[den[0]] - p[den[1]]
    if not (math.isfinite(d) and d > 0):
        return NA(f"{what} is {d:.4g} <= 0 (ppl {p[den[0]]:.4g} vs {p[den[1]]:.4g})")

    # delta method: each window's influence on ppl_j = exp(mean NLL_j) is ppl_j * (NLL_ij - mean_j)
    infl = (x - x.mean(0)) * p
    u = infl[:, num[0]] - infl[:, num[1]]
    v = infl[:, den[0]] - infl[:, den[1]]
    N = float(p[num[0]] - p[num[1]])
    return fieller_units(u, v, level, value=N / d, num_mean=N, den_mean=float(d),
                         method="Fieller (t) on delta-method window influences", min_n=MIN_N["delta_share"],
                         clusters=articles(results[0], corpus), unit="window")


def task_diff(a: dict, b: dict, task: str, level: float = LEVEL) -> Estimate | None:
    """accuracy of b minus a on one task's shared documents (Agresti-Min interval)."""
    da, db = task_docs(a, task), task_docs(b, task)
    if not da or not db:
        return None
    ids = sorted(set(da) & set(db))
    d = sequential_design([a, b], "docs")
    if isinstance(d, NA):
        return d
    n = last_look(len(ids), d) if d else 0
    if d is not None:
        if n is None or ids[:n] != list(range(n)):
            return NA(f"documents 0..{(n or d.looks[0]) - 1} are not all scored in both conditions")
        ids = ids[:n]
    if not ids:
        return None
    x = np.array([[da[i], db[i]] for i in ids], dtype=float)
    return _read(acc_linear([x], (-1.0, 1.0), level, kind="task_diff"), d, n)


def ratio_of_means(a, b, level: float = LEVEL) -> Estimate | None:
    """mean(b) / mean(a) over paired items (e.g. prompts), Fieller's interval with t(n - 1) quantiles."""
    if not a or not b or len(a) != len(b):
        return None
    return fieller_units(b, a, level, method="Fieller (t) over prompts", unit="prompt")
