"""The paper's numbers of one model read against its result files, one ``reproduce.Row`` each: Table 1 (ablation),
Table 2 (coordinates), Table 5 and Fig. 6's best scale, Fig. 5 (stopword ratios); the quantization tables in
report.reproduce_quant. ``paper`` is the model's entry of config/paper_results.yaml. Averages are over the paper's
seven tasks only; a result's documents and windows are the paper's whole set or a deterministic subset of it."""
from __future__ import annotations

import math
from pathlib import Path

from superweight import paths
from superweight.report import compare
from superweight.report import reproduce_quant as quant
from superweight.report.reproduce import (NOT_REPRODUCED, NOT_RUN, REPRODUCED, TOLERANCE, UNDECIDED, Row, band,
                                          mark_estimate, row)
from superweight.report.reproduce_read import (NO_AMP_NOTE, PAPER_TASKS, PAPER_WINDOWS, Files, acc_rows,
                                               doc_subset, on_paper_tasks, ppl_row, task_whole)
from superweight.stats.intervals import fieller_units
PAPER_PROMPTS = 500                             # Fig. 5: 500 LAMBADA prompts
# the paper's detection (Sec. 3, official analyze.py): one prompt, both maxima above 50, the input maximum's channel
PAPER_RULE = {"prompt": "Apple Inc. is a worldwide tech company.", "kind": "absolute", "threshold": 50,
              "column": "input_max"}
DAMAGED_CONDITIONS = ("prune_sw", "prune_sw_restore_sa")


def table1(f: Files, model: str, paper: dict, level: float) -> list[Row]:
    out = []
    for cond, vals in paper.items():
        r = f.scored(paths.scores("ablation", condition=cond))
        accs = {k: v for k, v in vals.items() if k not in PAPER_WINDOWS}
        out += acc_rows("Table 1", model, cond, r, accs, level, cond in DAMAGED_CONDITIONS)
        out += [ppl_row("Table 1", model, cond, r, c, vals[c], level) for c in PAPER_WINDOWS if c in vals]
    return out


def other_rule(d: dict) -> str:
    """How the detection's rule differs from the paper's (PAPER_RULE; a value not recorded differs), or ""."""
    got = {"prompt": d.get("prompt"), **{k: (d.get("rule") or {}).get(k) for k in PAPER_RULE if k != "prompt"}}
    return ", ".join(f"{k} {got[k]!r}" for k, v in PAPER_RULE.items() if got[k] != v)


def table2(f: Files, model: str, coords: list, level: float) -> list[Row]:
    """Each coordinate: found by the data-free detection (a candidate) or not; exact. A miss under another rule
    than the paper's is undecided."""
    d = f.get("detect/super_weights.json")
    out = []
    for c in coords:
        q = f"super weight layer {c[0]} [{c[1]}, {c[2]}]"
        if d is None or "candidates" not in d:
            got = (UNDECIDED, "detection did not run", {})
        else:
            conf = {(x["layer"], x["row"], x["col"]) for x in d.get("super_weights", []) if x.get("confirmed", True)}
            found = conf | {(x["layer"], x["row"], x["col"]) for x in d.get("candidates", [])}
            if tuple(c) in found:
                got = (REPRODUCED, "found by the data-free detection; " + (
                    "confirmed" if tuple(c) in conf else "not confirmed by this run's data-dependent check"),
                    {"value": "found"})
            elif other_rule(d):
                got = (UNDECIDED, f"not found under another rule ({other_rule(d)}; the paper's: {PAPER_RULE})",
                       {"value": "not found"})
            elif str(d.get("stopped", "")).startswith("iteration cap"):
                got = (UNDECIDED, "not found, but detection stopped at its iteration cap with spikes left",
                       {"value": "–"})
            else:
                got = (NOT_REPRODUCED, "not among the data-free candidates of the paper's rule",
                       {"value": "not found"})
        out.append(row("Table 2", model, q, f"[{c[0]}, {c[1]}, {c[2]}]", "coordinate", None, got, "exact"))
    return out


def _factor_file(f: Files, factor: float) -> dict | None:
    return next((f.scored(p) for p, x in f.find("scaling") if float(x["factor"]) == float(factor)), None)


def table5(f: Files, model: str, paper: dict, fig6: dict | None, level: float) -> list[Row]:
    """Table 5's accuracies at x1 and amplified, at the Fig. 6 scale whose average is Table 5's amplified average
    (the paper states no factor; where no Fig. 6 point matches, as Llama-7B's 70.51, undecided)."""
    out = acc_rows("Table 5", model, "x1", _factor_file(f, 1.0), paper.get("original", {}), level)
    amp = paper.get("amplified", {})
    at = next((k for k, v in (fig6 or {}).items() if abs(v - amp.get("avg", math.nan)) < 0.005), None)
    if at is None:
        why = (f"the paper's factor is not stated: Table 5's amplified average {amp.get('avg')} is none of Fig. 6's "
               "points")
        return out + [row("Table 5", model, f"amplified: {'avg accuracy' if k == 'avg' else k} (%)", v, "accuracy",
                          band(v, TOLERANCE["accuracy"]), (UNDECIDED, why, {}), "") for k, v in amp.items()]
    return out + acc_rows("Table 5", model, f"amplified x{at:g}", _factor_file(f, at), amp, level,
                          note=NO_AMP_NOTE)


def best_factor(f: Files, model: str, fig6: dict, level: float) -> list[Row]:
    """Fig. 6/Table 5's best scale: not reproduced when this run's average accuracy (the paper's seven tasks) at
    the paper's best scale lies more than the accuracy band below the run's best scale, else undecided."""
    best = max(fig6, key=lambda k: fig6[k])
    q, tol = "best scale (Fig. 6 / Table 5)", TOLERANCE["best_factor"]
    runs = {float(x["factor"]): f.scored(p) for p, x in f.find("scaling")}
    runs = {k: on_paper_tasks(v) for k, v in runs.items() if v and v["scores"].get("tasks")}
    lohi = (-tol.width - 0.005, 0.0)
    if float(best) not in runs:
        return [row("Fig. 6", model, q, best, "best_factor", lohi, (UNDECIDED, f"x{best:g} not scored in this run",
                                                                     {}), "")]
    other = next((why for _, why in runs.values() if why), "")
    if other:
        return [row("Fig. 6", model, q, best, "best_factor", lohi, (UNDECIDED, other, {}), "")]
    runs = {k: r for k, (r, _) in runs.items()}
    top, at = max(runs, key=lambda k: runs[k]["scores"]["avg_acc"]), runs[float(best)]
    whole = all(task_whole(r, t) for r in runs.values() for t in PAPER_TASKS)
    est = compare.acc_diff(runs[top], at)
    m, why, shown = mark_estimate(est, lohi[0], math.inf, level, whole, 100.0, doc_subset(at), far=NOT_REPRODUCED)
    if m == REPRODUCED:
        m, why = UNDECIDED, why + ": within the accuracy band, which is wider than the paper's gain over x1"
    short = 100 * (at["scores"]["avg_acc"] - runs[top]["scores"]["avg_acc"])
    reason = (f"this run's best scale x{top:g} (best of {len(runs)} on these data); at the paper's x{best:g} the "
              f"average accuracy is {short:+.2f} points from it; {why}")
    return [row("Fig. 6", model, q, best, "best_factor", lohi, (m, reason, shown),
                "whole set" if whole else "sample", value=top)]


def fig5(f: Files, model: str, paper: dict, level: float) -> list[Row]:
    """Fig. 5: each stopword's probability ratio (no super weight / original, ratio of means over prompts); always
    undecided: the paper does not say which 500 prompts, so this run's are a sample of other prompts."""
    s = f.get("stopwords/summary.json")
    out = []
    for w, pv in paper.items():
        lohi = band(pv, TOLERANCE["stopword_ratio"], 1)
        q = f"stopword {w!r} probability ratio"
        pp = ((s or {}).get("per_prompt") or {}).get(w) if s and s.get("status") != "skipped" else None
        if not pp:
            why = NOT_RUN if not s or s.get("status") == "skipped" else f"{w!r} is not one token here"
            out.append(row("Fig. 5", model, q, pv, "stopword_ratio", lohi, (UNDECIDED, why, {}), ""))
            continue
        same_n = s.get("n_prompts") == PAPER_PROMPTS
        # the ratio of means (the paper's) with Fieller's interval, never the median fallback of compare's
        est = fieller_units(pp["no_super_weight"], pp["original"], level, method="Fieller (t) over prompts",
                            min_n=1, unit="prompt")
        got = mark_estimate(est, *lohi, level, False, subset=(
            f"{est.n} prompts, " + ("the paper's n but not its prompts (it does not say which 500)" if same_n else
                                    f"not the paper's {PAPER_PROMPTS}") + ": a sample, and Fieller's test of a ratio "
            "of means has no n at which its error is measured (docs/statistics.md)"))
        out.append(row("Fig. 5", model, q, pv, "stopword_ratio", lohi, got,
                       "same n, other prompts" if same_n else "sample"))
    return out


def flag_suspect(rows: list[Row], model: str, suspect: dict[str, str]) -> list[Row]:
    """The paper values config/paper_results.yaml flags ``suspect`` ("{table} | {quantity}": why): the reason
    says so, and a miss is undecided (it may be the paper's error), never not reproduced."""
    keyed = {f"{r.table} | {r.quantity}": r for r in rows}
    for k, why in (suspect or {}).items():
        if k not in keyed:
            raise ValueError(f"config/paper_results.yaml: {model}.suspect names {k!r}, no paper number of {model}. "
                             "Fix: spell it '<table> | <quantity>' as results/reproduction.md prints it")
        r = keyed[k]
        r.reason += f"; the paper's value is suspect: {why}"
        if r.mark == NOT_REPRODUCED:
            r.mark = UNDECIDED
    return rows


def model_rows(model: str, files: dict[str, Path], paper: dict | None, alpha: float = 0.05) -> list[Row]:
    """Every number ``paper`` (config/paper_results.yaml's entry) holds for ``model``, checked on its files;
    intervals shown at 1 - alpha."""
    if not paper:
        return []
    f, level = Files(files), 1 - alpha
    fig6 = {float(k): float(v) for k, v in (paper.get("fig6") or {}).items()}
    orig = (paper.get("table1", {}).get("original", {}).get("avg") or fig6.get(1.0)
            or paper.get("table5", {}).get("original", {}).get("avg"))
    out = []
    if "table1" in paper:
        out += table1(f, model, paper["table1"], level)
    if "table2" in paper:
        out += table2(f, model, paper["table2"], level)
    for t in ("table3", "table4", "table7"):
        if t in paper:
            out += quant.w8a8(f, model, t, paper[t], level)
    if "table5" in paper:
        out += table5(f, model, paper["table5"], fig6, level)
    if fig6:
        out += best_factor(f, model, fig6, level)
    if "table6" in paper:
        out += quant.table6(f, model, {str(k): v for k, v in paper["table6"].items()}, orig, level)
    if "fig7" in paper:
        out += quant.fig7(f, model, {str(k): v for k, v in paper["fig7"].items()}, orig, level)
    if "fig5" in paper:
        out += fig5(f, model, paper["fig5"], level)
    return flag_suspect(out, model, paper.get("suspect"))


def paper_entries(models: dict[str, dict], paper_results: Path | str) -> dict[str, dict | None]:
    """Each configured model's entry of config/paper_results.yaml through its ``paper:`` key (None without one)."""
    import yaml

    known = yaml.safe_load(Path(paper_results).read_text()) or {}
    return {m: known.get(cfg.get("paper")) if cfg.get("paper") else None for m, cfg in models.items()}


def evaluate(models: list[str], files: dict[str, dict[str, Path]], paper: dict[str, dict | None],
             alpha: float = 0.05) -> dict:
    """The reproduction result (reproduce_render.result) of a run: ``files`` per model (relative path -> path),
    ``paper`` per model its config/paper_results.yaml entry (None outside the paper)."""
    from superweight.report.reproduce_render import result

    rows = [r.as_dict() for m in models for r in model_rows(m, files.get(m, {}), paper.get(m), alpha)]
    return result(rows, models, [m for m in models if paper.get(m)], alpha)
