"""The paper's numbers of one model read against its result files, one ``reproduce.Row`` each: Table 1 (ablation),
Table 2 (coordinates), Tables 3/4/7 (W8A8 perplexity and shares), Table 5 and Fig. 6's best scale, Table 6 and
Fig. 7 (INT4 RTN), Fig. 5 (stopword ratios). ``paper`` is the model's entry of config/paper_results.yaml."""
from __future__ import annotations

import json
from pathlib import Path

from superweight import paths
from superweight.report import compare
from superweight.report.reproduce import (DAMAGED_DROP, DAMAGED_PPL, NOT_REPRODUCED, NOT_RUN, REPRODUCED,
                                          TOLERANCE, UNDECIDED, Row, band, mark_at_least, mark_estimate, row,
                                          share_band)
from superweight.stats.intervals import fieller_units, proportion

PAPER_SEQLEN = 2048
PAPER_WINDOWS = {"wikitext2": None, "c4": 256}  # None: every window of the corpus (PAPER.md, GPTQ's protocol)
PAPER_PROMPTS = 500                             # Fig. 5: 500 LAMBADA prompts
DAMAGED_CONDITIONS = ("prune_sw", "prune_sw_restore_sa")
SHARE_REF = {"table3": "smoothquant", "table4": "fp", "table7": "fp"}


class Files:
    """One model's result files (paths relative to results/{model}/ -> real paths)."""

    def __init__(self, files: dict[str, Path]):
        self.files, self._c = files, {}

    def get(self, rel: str) -> dict | None:
        """The parsed file, or None when the run did not produce it."""
        if rel not in self.files:
            return None
        if rel not in self._c:
            self._c[rel] = json.loads(Path(self.files[rel]).read_text())
        return self._c[rel]

    def scored(self, rel: str) -> dict | None:
        """The parsed result when its experiment ran and scored, else None."""
        r = self.get(rel)
        return r if compare.done(r) else None

    def glob(self, pattern: str) -> list[str]:
        import fnmatch

        return sorted(f for f in self.files if fnmatch.fnmatch(f, pattern))


def _cfg(r: dict) -> dict:
    return ((r.get("provenance") or {}).get("config") or {})


def task_whole(r: dict, task: str) -> bool:
    """The task scored on all its documents (no ``limit``, no sequential looks)."""
    t = r["scores"].get("tasks", {}).get(task) or {}
    return "limit" in t and t["limit"] is None and not r["scores"].get("sequential")


def ppl_protocol(r: dict, corpus: str) -> tuple[bool, str]:
    """(whole, why not comparable or ""): the paper's windows of ``corpus`` scored (2048 tokens; every WikiText-2
    window, C4's first 256), or a sample of them; "" reason unless the window length differs (another quantity)."""
    p = r["scores"].get("perplexity", {}).get(corpus) or {}
    if p.get("seqlen") != PAPER_SEQLEN:
        return False, f"scored at {p.get('seqlen')} tokens per window, the paper at {PAPER_SEQLEN}: another quantity"
    conf = (_cfg(r).get("perplexity") or {})
    want = PAPER_WINDOWS.get(corpus, "?")
    asked = (conf.get("windows") or {}).get(corpus, "?") if conf else "?"
    whole = (asked is None and want is None) or (want is not None and p.get("windows") == want
                                                 and conf.get("window_order", "first") == "first")
    return whole and not r["scores"].get("sequential"), ""


def acc_rows(table: str, model: str, label: str, r: dict | None, paper: dict, alpha: float,
             damaged: bool = False) -> list[Row]:
    """Each task's accuracy and the average (%) of one result against the paper's ``paper`` {task|avg: value}."""
    out = []
    for key, pv in paper.items():
        tol = "accuracy_damaged" if damaged else "accuracy"
        lohi = band(pv, TOLERANCE[tol])
        q = f"{label}: {'avg accuracy' if key == 'avg' else key} (%)"
        if r is None:
            out.append(row(table, model, q, pv, tol, lohi, (UNDECIDED, NOT_RUN, {}), ""))
            continue
        tasks = r["scores"].get("tasks", {})
        if key == "avg":
            est = compare.avg_acc(r)
            want = [t for t in paper if t != "avg"] or list(tasks)
            whole = all(t in tasks and task_whole(r, t) for t in want)
        else:
            docs = compare.task_docs(r, key)
            est = proportion(int(round(sum(docs.values()))), len(docs)) if docs else None
            whole = task_whole(r, key)
        out.append(row(table, model, q, pv, tol, lohi, mark_estimate(est, *lohi, alpha, whole, 100.0),
                       "whole set" if whole else "sample"))
    return out


def ppl_row(table: str, model: str, label: str, r: dict | None, corpus: str, pv: float, alpha: float,
            tol: str | None = None) -> Row:
    """One perplexity against the paper's (damaged above DAMAGED_PPL)."""
    tol = tol or ("ppl_damaged" if pv > DAMAGED_PPL else "ppl")
    lohi = band(pv, TOLERANCE[tol])
    q = f"{label}: {corpus} ppl"
    if r is None or not compare.window_nll(r, corpus):
        return row(table, model, q, pv, tol, lohi, (UNDECIDED, NOT_RUN, {}), "")
    whole, other = ppl_protocol(r, corpus)
    got = mark_estimate(compare.ppl(r, corpus, table=True), *lohi, alpha, whole)
    if other:
        got = (UNDECIDED, other, got[2])
    return row(table, model, q, pv, tol, lohi, got, "whole set" if whole else "sample")


def table1(f: Files, model: str, paper: dict, alpha: float) -> list[Row]:
    out = []
    for cond, vals in paper.items():
        r = f.scored(paths.SCORES["ablation"].format(condition=cond))
        accs = {k: v for k, v in vals.items() if k not in PAPER_WINDOWS}
        out += acc_rows("Table 1", model, cond, r, accs, alpha, cond in DAMAGED_CONDITIONS)
        out += [ppl_row("Table 1", model, cond, r, c, vals[c], alpha) for c in PAPER_WINDOWS if c in vals]
    return out


def table2(f: Files, model: str, coords: list, alpha: float) -> list[Row]:
    """Each coordinate: found by the data-free detection (a candidate) or not; exact."""
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
            elif str(d.get("stopped", "")).startswith("iteration cap"):
                got = (UNDECIDED, "not found, but detection stopped at its iteration cap with spikes left",
                       {"value": "–"})
            else:
                col = (d.get("rule") or {}).get("column")
                got = (NOT_REPRODUCED, "not among the data-free candidates"
                       + (f" (column rule {col!r}, the paper's is input_max)" if col and col != "input_max" else ""),
                       {"value": "not found"})
        out.append(row("Table 2", model, q, f"[{c[0]}, {c[1]}, {c[2]}]", "coordinate", None, got, "exact"))
    return out


def w8a8(f: Files, model: str, table: str, paper: dict, alpha: float) -> list[Row]:
    """Tables 3/4/7: each method's perplexity and the printed share, per corpus."""
    label = table.replace("table", "Table ")
    rs = {m: f.scored(paths.SCORES["aquant"].format(amethod=m)) for m in ("fp", "naive", "smoothquant", "sa_aware")}
    out = []
    for corpus, vals in paper.items():
        for m, pv in vals.items():
            if m != "share":
                out.append(ppl_row(label, model, f"W8A8 {m}", rs.get(m), corpus, pv, alpha,
                                   "ppl" if m == "fp" else "ppl_quant"))
        if "share" not in vals:
            continue
        ref = SHARE_REF[table]
        lohi = share_band((vals["naive"], vals["sa_aware"]), (vals["naive"], vals[ref]), vals["share"])
        q = f"W8A8 sa_aware: {corpus} share of {'SmoothQuant' if ref == 'smoothquant' else 'the FP16 gap'} (%)"
        three = [rs["naive"], rs["sa_aware"], rs[ref]]
        if not all(r and compare.window_nll(r, corpus) for r in three):
            out.append(row(label, model, q, vals["share"], "share", lohi, (UNDECIDED, NOT_RUN, {}), ""))
            continue
        what = "SmoothQuant's gain over naive" if ref == "smoothquant" else "naive's loss over fp"
        est = compare.ppl_share(three, corpus, (0, 1), (0, 2), what)
        prot = [ppl_protocol(r, corpus) for r in three]
        whole = all(w for w, _ in prot)
        got = mark_estimate(est, *lohi, alpha, whole, 100.0)
        other = next((why for _, why in prot if why), "")
        out.append(row(label, model, q, vals["share"], "share", lohi, (UNDECIDED, other, got[2]) if other else got,
                       "whole set" if whole else "sample"))
    return out


def _factor_file(f: Files, factor: float) -> dict | None:
    return next((f.scored(p) for p in f.glob("scaling/x*/scores.json")
                 if float(p.split("/")[1][1:]) == float(factor)), None)


def table5(f: Files, model: str, paper: dict, fig6: dict | None, alpha: float) -> list[Row]:
    """Table 5's accuracies at x1 and at the paper's best scale (Fig. 6's highest average)."""
    best = max(fig6, key=lambda k: fig6[k]) if fig6 else None
    out = acc_rows("Table 5", model, "x1", _factor_file(f, 1.0), paper.get("original", {}), alpha)
    amp = _factor_file(f, best) if best is not None else None
    out += acc_rows("Table 5", model, f"amplified x{best:g}" if best is not None else "amplified", amp,
                    paper.get("amplified", {}), alpha)
    return out


def best_factor(f: Files, model: str, fig6: dict, alpha: float) -> list[Row]:
    """Fig. 6/Table 5's best scale: the run's average accuracy at the paper's best scale within the paper's own
    gain (best minus x1) of the run's best scale (paired difference, one-sided)."""
    best = max(fig6, key=lambda k: fig6[k])
    gain = fig6[best] - fig6.get(1, fig6.get(1.0, fig6[best]))
    q = "best scale (Fig. 6 / Table 5)"
    runs = {float(p.split("/")[1][1:]): f.scored(p) for p in f.glob("scaling/x*/scores.json")}
    runs = {k: v for k, v in runs.items() if v and v["scores"].get("tasks")}
    at = runs.get(float(best))
    if at is None:
        return [row("Fig. 6", model, q, best, "best_factor", None,
                    (UNDECIDED, f"x{best:g} not scored in this run", {}), "")]
    top = max(runs, key=lambda k: runs[k]["scores"]["avg_acc"])
    whole = all(task_whole(r, t) for r in runs.values() for t in r["scores"]["tasks"])
    got = mark_at_least(compare.acc_diff(runs[top], at), -gain, alpha, whole, 100.0)
    reason = (f"this run's best scale x{top:g}; at the paper's x{best:g} the average accuracy is "
              f"{100 * (at['scores']['avg_acc'] - runs[top]['scores']['avg_acc']):+.2f} points from it, allowed "
              f"-{gain:.2f} (the paper's gain over x1); {got[1]}")
    return [row("Fig. 6", model, q, best, "best_factor", (-gain, 0.0), (got[0], reason, got[2]),
                "whole set" if whole else "sample", value=top)]


def _avg_row(table: str, model: str, q: str, r: dict | None, pv: float, orig: float | None, alpha: float) -> Row:
    damaged = orig is not None and pv < orig - DAMAGED_DROP
    return acc_rows(table, model, q, r, {"avg": pv}, alpha, damaged)[0]


def table6(f: Files, model: str, paper: dict, orig: float | None, alpha: float) -> list[Row]:
    """Table 6: average accuracy with the super weights restored after RTN at x1 and amplified (the paper does not
    state its factor: of this run's factors, the one with the highest average)."""
    out = []
    for block, vals in paper.items():
        base = f"wquant/int4/rtn_keep_sw/block{block}"
        out.append(_avg_row("Table 6", model, f"RTN block {block}, SW restored x1", f.scored(f"{base}/scores.json"),
                            vals["original"], orig, alpha))
        amp = [(p, f.scored(p)) for p in f.glob(f"{base}/sw_x*/scores.json")]
        amp = [(p, r) for p, r in amp if r and r["scores"].get("tasks")]
        p, r = max(amp, key=lambda x: x[1]["scores"]["avg_acc"]) if amp else (None, None)
        q = f"RTN block {block}, SW restored amplified" + (f" ({p.split('/')[-2]})" if p else "")
        out.append(_avg_row("Table 6", model, q, r, vals["amplified"], orig, alpha))
    return out


def fig7(f: Files, model: str, paper: dict, orig: float | None, alpha: float) -> list[Row]:
    return [_avg_row("Fig. 7", model, f"INT4 {m} block {block}", f.scored(f"wquant/int4/{m}/block{block}/scores.json"),
                     v, orig, alpha) for block, vals in paper.items() for m, v in vals.items()]


def fig5(f: Files, model: str, paper: dict, alpha: float) -> list[Row]:
    """Fig. 5: each stopword's probability ratio (no super weight / original, ratio of means over prompts)."""
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
        whole = s.get("n_prompts") == PAPER_PROMPTS
        # the ratio of means (the paper's) with Fieller's interval, never the median fallback of compare's
        est = fieller_units(pp["no_super_weight"], pp["original"], 1 - 2 * alpha, method="Fieller (t) over prompts",
                            min_n=1, unit="prompt")
        got = mark_estimate(est, *lohi, alpha, whole)
        if not whole:
            got = (UNDECIDED, f"a sample of {est.n} prompts, not the paper's {PAPER_PROMPTS}: Fieller's test of a "
                              "ratio of means has no n at which its error is measured (docs/statistics.md)", got[2])
        out.append(row("Fig. 5", model, q, pv, "stopword_ratio", lohi, got, "whole set" if whole else "sample"))
    return out


def model_rows(model: str, files: dict[str, Path], paper: dict | None, alpha: float = 0.05) -> list[Row]:
    """Every number ``paper`` (config/paper_results.yaml's entry) holds for ``model``, checked on its files."""
    if not paper:
        return []
    f = Files(files)
    fig6 = {float(k): float(v) for k, v in (paper.get("fig6") or {}).items()}
    orig = (paper.get("table1", {}).get("original", {}).get("avg") or fig6.get(1.0)
            or paper.get("table5", {}).get("original", {}).get("avg"))
    out = []
    if "table1" in paper:
        out += table1(f, model, paper["table1"], alpha)
    if "table2" in paper:
        out += table2(f, model, paper["table2"], alpha)
    for t in ("table3", "table4", "table7"):
        if t in paper:
            out += w8a8(f, model, t, paper[t], alpha)
    if "table5" in paper:
        out += table5(f, model, paper["table5"], fig6, alpha)
    if fig6:
        out += best_factor(f, model, fig6, alpha)
    if "table6" in paper:
        out += table6(f, model, {str(k): v for k, v in paper["table6"].items()}, orig, alpha)
    if "fig7" in paper:
        out += fig7(f, model, {str(k): v for k, v in paper["fig7"].items()}, orig, alpha)
    if "fig5" in paper:
        out += fig5(f, model, paper["fig5"], alpha)
    return out



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
