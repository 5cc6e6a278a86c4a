"""Tables rendered from result files: Table 1 (ablation) per model and across models, Table 5, the quantization
tables. Every number carries its uncertainty: in the CSV as columns beside the value ("X se" for a standard error,
"X lo"/"X hi" for a confidence interval, "X n" for the documents or windows behind it); in Markdown and LaTeX as
"value ± se" or "value [lo, hi]". Undefined metrics are "n/a: reason"."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from superweight.report import compare
from superweight.provenance import as_float
from superweight.report.html_tables import table_page
from superweight.report.reproduce_render import paper_cells
from superweight.stats.intervals import NA, Estimate
from superweight.scoring.accuracy import avg_se, binomial_se
from superweight.settings import Stats

TASK_LABELS = {"arc_challenge": "ARC-c", "arc_easy": "ARC-e", "hellaswag": "HellaSwag", "lambada_openai": "LAMBADA",
               "piqa": "PIQA", "sciq": "SciQ", "winogrande": "Winogrande", "boolq": "BoolQ"}
CORPUS_LABELS = {"c4": "C4 ppl", "wikitext2": "Wiki-2 ppl"}
# "X stop": "early" when X was taken at an early sequential stop; "X mark": a paper value's reproduction mark
UNCERTAINTY = ("se", "lo", "hi", "n", "stop", "mark")
EARLY = "†"
EARLY_NOTE = (f" {EARLY} an estimate at an early stop of a sequential design (a look before the last): it may be "
              "biased, away from the threshold for the comparison that stopped the design; other estimates read at "
              "that look in the direction of their correlation with it. The repeated confidence interval keeps its "
              "coverage.")


def _corpus_order(c: str) -> int:
    return list(CORPUS_LABELS).index(c) if c in CORPUS_LABELS else 99


def _est(row: dict, name: str, e: Estimate | NA | None, scale: float = 1.0) -> None:
    """Put an estimate in ``row`` as name, name lo, name hi (scaled), or its n/a reason."""
    if e is None:
        return
    if isinstance(e, NA):
        row[name] = str(e)
        return
    row.update({name: scale * e.value, f"{name} lo": scale * e.lo, f"{name} hi": scale * e.hi})
    if e.early_stop:
        row[f"{name} stop"] = "early"


def _early(scores: dict, part: str, corpus: str | None = None) -> bool:
    """A condition scored in looks (scores.sequential) that stopped before its design's last look."""
    rec = (scores.get("sequential") or {}).get(part)
    rec = rec.get(corpus) if rec and part == "windows" else rec
    if not rec or "design" not in rec:
        return False
    return int(rec.get("stopped_at_look", 0)) < len(rec["design"].get("looks", []))


def _score_columns(scores: dict, st: dict | None = None) -> dict:
    """Accuracy per task (%) with its binomial SE and n, their average with its SE, and perplexity per corpus
    (C4 before Wiki-2, as the paper) with the t interval of the mean over windows and the number of windows."""
    row = {}
    for t, v in scores.get("tasks", {}).items():
        lab = TASK_LABELS.get(t, t)
        acc, n = as_float(v["acc"]), v.get("n")
        se = v.get("acc_se")
        if se is None and n:  # results written before per-document values were kept
            se = binomial_se(acc, n)
        row.update({lab: 100 * acc, f"{lab} se": 100 * as_float(se), f"{lab} n": n})
        if _early(scores, "docs"):
            row[f"{lab} stop"] = "early"
    if scores.get("tasks"):
        tasks = scores["tasks"].values()
        row["avg"] = 100 * as_float(scores.get("avg_acc"))
        row["avg se"] = 100 * avg_se([as_float(row[f"{TASK_LABELS.get(t, t)} se"]) / 100 for t in scores["tasks"]])
        row["avg n"] = sum(int(v.get("n") or 0) for v in tasks)
        if _early(scores, "docs"):
            row["avg stop"] = "early"
    for c in sorted(scores.get("perplexity", {}), key=_corpus_order):
        lab = CORPUS_LABELS.get(c, c)
        p = scores["perplexity"][c]
        row[lab] = as_float(p["ppl"])
        e = compare.ppl({"scores": scores}, c, **(st or {}), table=True)
        row.update({f"{lab} lo": e.lo if e else math.nan, f"{lab} hi": e.hi if e else math.nan,
                    f"{lab} n": p.get("windows")})
        if isinstance(e, Estimate) and e.early_stop or _early(scores, "windows", c):
            row[f"{lab} stop"] = "early"
    return row


def _comparison_columns(base: dict, r: dict, label: str, st: dict | None = None) -> dict:
    """Paired comparison of result r with base: Δ average accuracy (points) and perplexity ratio per corpus."""
    row = {}
    st = st or {}
    _est(row, f"Δ avg vs {label}", compare.acc_diff(base, r, **st), 100)
    for c in compare.corpora(base, r):
        _est(row, f"{CORPUS_LABELS.get(c, c)} ×{label}", compare.ppl_ratio(base, r, c, **st, table=True))
    return row


def table1_rows(results: list[dict], st: dict | None = None) -> pd.DataFrame:
    """One row per (model, condition): accuracy per task in %, their average, perplexities, notes; every other
    condition compared with the model's original (paired Δ average accuracy, perplexity ratio, with CIs)."""
    originals = {r["model"]: r for r in results if r.get("condition") == "original" and compare.done(r)}
    rows = []
    for r in results:
        row = {"model": r["model"], "condition": r["condition"]}
        if r.get("status") == "skipped":
            row["note"] = r["reason"]
            rows.append(row)
            continue
        row.update(_score_columns(r["scores"], st))
        base = originals.get(r["model"])
        if r["condition"] != "original" and compare.done(base):
            row.update(_comparison_columns(base, r, "original", st))
        if r["condition"] == "prune_nonsw":
            p = r["intervention"]["prune_nonsw"]
            row["note"] = f"{p['n_pruned']} weights pruned ({p['rule']}, {p['amount']:g})"
        elif r["condition"] in ("prune_sw", "prune_sw_restore_sa"):
            row["note"] = f"{len(r['intervention']['super_weights'])} super weight(s) zeroed"
        rows.append(row)
    df = pd.DataFrame(rows)
    if "note" in df:
        df["note"] = df["note"].fillna("")
    order = {c: i for i, c in enumerate(["original", "prune_sw", "prune_nonsw", "prune_sw_restore_sa"])}
    df["_o"] = df["condition"].map(order)
    return df.sort_values(["model", "_o"]).drop(columns="_o").reset_index(drop=True)


def with_paper(df: pd.DataFrame, paper: dict[str, dict] | None,
               marks: dict[tuple[str, str], str] | None = None) -> pd.DataFrame:
    """Interleave the paper's numbers (source column 'paper') for side-by-side reading; ``marks``
    {(condition, key): mark} (reproduce_render.marks_for) puts each paper value's reproduction mark beside it."""
    if not paper:
        return df.assign(source="this run")
    rows = []
    for _, r in df.iterrows():
        rows.append({**r.to_dict(), "source": "this run"})
        p = paper.get(r["condition"])
        if p:
            lab = {k: TASK_LABELS.get(k, CORPUS_LABELS.get(k, k)) for k in p}
            rows.append({"model": r["model"], "condition": r["condition"], "source": "paper",
                         **{lab[k]: v for k, v in p.items()},
                         **{f"{lab[k]} mark": marks[(r["condition"], k)] for k in p
                            if (r["condition"], k) in (marks or {})}})
    return pd.DataFrame(rows)


def _fmt(x):
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.2f}" if 0.01 <= abs(x) < 1e5 or x == 0 else f"{x:.3g}"
    return "" if x is None else str(x)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _n_kind(base: str) -> str | None:
    if base.endswith(" ppl"):
        return "windows"
    if base in TASK_LABELS.values():
        return "docs/task"
    if base == "avg":
        return "docs (all tasks)"
    return None


def display(df: pd.DataFrame) -> pd.DataFrame:
    """The table as people read it: "value ± se", "value [lo, hi]"; the n of the cells in a "docs/task" and a
    "windows" column when a row's cells share it, else "(n=...)" in each cell."""
    cols = list(df.columns)
    companion = {f"{b} {u}" for b in cols for u in UNCERTAINTY if f"{b} {u}" in cols}
    bases = [c for c in cols if c not in companion]
    rows = []
    for _, r in df.iterrows():
        out, ns = {}, {}
        for b in bases:
            v = r[b]
            if isinstance(v, str) or _missing(v) or not isinstance(v, (int, float)):
                out[b] = "–" if _missing(v) else _fmt(v)
                continue
            cell = _fmt(float(v)) + (EARLY if r.get(f"{b} stop") == "early" else "")
            if isinstance(r.get(f"{b} mark"), str):  # a paper value: its reproduction mark
                cell += f" ({r[f'{b} mark']})"
            if f"{b} se" in cols and not _missing(r[f"{b} se"]):
                cell += f" ± {_fmt(float(r[f'{b} se']))}"
            if f"{b} lo" in cols and not (_missing(r[f"{b} lo"]) or _missing(r[f"{b} hi"])):
                cell += f" [{_fmt(float(r[f'{b} lo']))}, {_fmt(float(r[f'{b} hi']))}]"
            out[b] = cell
            if f"{b} n" in cols and not _missing(r[f"{b} n"]) and _n_kind(b):
                ns.setdefault(_n_kind(b), {})[b] = int(r[f"{b} n"])
        if "docs/task" in ns:  # the average's documents are the tasks' documents
            ns.pop("docs (all tasks)", None)
        for kind, byb in ns.items():
            if len(set(byb.values())) == 1:
                out[kind] = str(next(iter(byb.values())))
            else:
                for b, n in byb.items():
                    out[b] += f" (n={n})"
                out[kind] = "varies"
        rows.append(out)
    shown = pd.DataFrame(rows)
    extra = ("docs/task", "docs (all tasks)", "windows", "source", "note")
    lead = [c for c in shown.columns if c not in extra]
    tail = [c for c in extra if c in shown.columns]
    return shown[lead + tail].fillna("")


def stats_kw(st: Stats) -> dict:
    """The config's `stats` section as keyword arguments of the compare functions (its confidence level)."""
    return {"level": st.level}


def write_table(df: pd.DataFrame, stem: str | Path, caption: str = "", level: float = 0.95) -> list[Path]:
    """CSV (full precision: values, their uncertainty and n as columns), Markdown, LaTeX and HTML (for the report) ("value ± se",
    "value [lo, hi]" at 2 decimals, 'inf' for exploded perplexity, '–' for missing, 'n/a: reason' for undefined)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(stem.with_suffix(".csv"), index=False)
    shown = display(df)
    note = (f"\n\n± is one binomial standard error (accuracy, %); [lo, hi] is a {100 * level:g}% interval "
            "(t over windows for perplexity; paired differences and ratios over the same documents or windows; "
            "methods: docs/statistics.md)." + (EARLY_NOTE if any(c.endswith(" stop") for c in df.columns) else ""))
    early = any(c.endswith(" stop") for c in df.columns)
    md = (f"{caption}{note}\n\n" if caption else "") + shown.to_markdown(index=False) + "\n" + (
        f"\n{EARLY_NOTE.strip()}\n" if early and not caption else "")
    stem.with_suffix(".md").write_text(md)
    tex = shown.to_latex(index=False, caption=caption or None, escape=True)
    stem.with_suffix(".tex").write_text(tex)
    stem.with_suffix(".html").write_text(table_page(shown, caption, note.strip() if caption else ""))
    return [stem.with_suffix(s) for s in (".csv", ".md", ".tex", ".html")]


def scaling_rows(results: list[dict], st: dict | None = None) -> pd.DataFrame:
    """One row per (model, factor): accuracy per task (%), average, perplexities; skipped models keep a note."""
    rows = []
    for r in results:
        row = {"model": r["model"], "factor": as_float(r.get("factor"))}
        if r.get("status") == "skipped":
            row["note"] = r["reason"]
        else:
            row.update(_score_columns(r["scores"], st))
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["model", "factor"]).reset_index(drop=True)


def table5(results: list[dict], st: dict | None = None, reproduction: dict | None = None) -> pd.DataFrame:
    """Per model and task: accuracy at factor 1 (original) and at the factor with the best average, each with its
    SE and n, and the paired difference best - original with its CI (Agresti-Min over the same documents);
    ``reproduction`` (results/reproduction.json): the paper's Table 5 values beside, with their marks."""
    out = []
    by_model: dict[str, list[dict]] = {}
    for r in results:
        by_model.setdefault(r["model"], []).append(r)
    for model in sorted(by_model):
        rs = [r for r in by_model[model] if compare.done(r)]
        if not rs:
            out.append({"model": model, "task": "–", "note": next((r.get("reason") for r in by_model[model]
                                                                   if r.get("reason")), "no result")})
            continue
        orig = next((r for r in rs if as_float(r.get("factor")) == 1.0), None)
        best = max(rs, key=lambda r: as_float(r["scores"].get("avg_acc")))
        o_cols = _score_columns(orig["scores"], st) if orig else {}
        b_cols = _score_columns(best["scores"], st)
        for t in list(best["scores"].get("tasks", {})) + ["avg"]:
            lab = TASK_LABELS.get(t, t)
            row = {"model": model, "task": lab, "original (x1)": o_cols.get(lab, math.nan),
                   "original (x1) se": o_cols.get(f"{lab} se", math.nan), "best factor": as_float(best["factor"]),
                   "best": b_cols.get(lab, math.nan), "best se": b_cols.get(f"{lab} se", math.nan),
                   "n": o_cols.get(f"{lab} n", b_cols.get(f"{lab} n"))}
            if orig is not None:
                kw = st or {}
                d = compare.acc_diff(orig, best, **kw) if t == "avg" else compare.task_diff(orig, best, t, **kw)
                _est(row, "best - original", d, 100)
            for (label, key), (pv, mark) in paper_cells(reproduction, model, "Table 5").items():
                if key == t:
                    col = "paper x1" if label == "x1" else "paper amplified"
                    row[col], row[f"{col} mark"] = pv, mark
            out.append(row)
    return pd.DataFrame(out)


def _sw_factor(r: dict) -> float:
    """The factor the super weights were restored at after weight quantization (1 = their value)."""
    return float(r.get("sw_factor") or 1.0)


def block_order(block) -> float:
    s = str(block)
    if s == "per_channel":
        return -1.0
    if s == "per_tensor":
        return math.inf
    if "x" in s:
        r, c = s.split("x")
        return float(int(r) * int(c))
    return float(s)


def quant_rows(results: list[dict], st: dict | None = None) -> pd.DataFrame:
    """One row per quantization experiment: method, bits, block, accuracy per task, avg, perplexities; a weight-
    quantization row is compared (paired, with CIs) with plain RTN at the same bits and block, one with the super
    weights restored amplified (Table 6) with the same method restored at x1."""
    def key(r, **kw):
        base = {**{k: r.get(k) for k in ("model", "bits", "block", "method")}, "sw_factor": _sw_factor(r)}
        return tuple({**base, **kw}.items())

    wq = {key(r): r for r in results if r.get("kind") == "wquant" and compare.done(r)}
    rows = []
    for r in results:
        row = {"model": r["model"], "method": r["method"]}
        if r["kind"] == "wquant":
            row.update(bits=r["bits"], block=str(r["block"]), _order=block_order(r["block"]),
                       sw_factor=_sw_factor(r))
        if r.get("status") == "skipped":
            row["note"] = r["reason"]
        else:
            row.update(_score_columns(r["scores"], st))
            if r["kind"] == "wquant":
                row["rel_error"] = r["intervention"]["mean_rel_error"]
                row["z"] = r["intervention"].get("z")
                if _sw_factor(r) != 1.0:
                    ref, label = wq.get(key(r, sw_factor=1.0)), "x1"
                else:
                    ref, label = (wq.get(key(r, method="rtn")), "rtn") if r["method"] != "rtn" else (None, "")
                if ref is not None:
                    row.update(_comparison_columns(ref, r, label, st))
        rows.append(row)
    df = pd.DataFrame(rows)
    keys = ["model", "bits", "_order", "method"] if "_order" in df else ["model", "method"]
    return df.sort_values(keys).drop(columns=[c for c in ["_order"] if c in df]).reset_index(drop=True)


def act_quant_table(results: list[dict], st: dict | None = None, reproduction: dict | None = None) -> pd.DataFrame:
    """Tables 3/4: perplexity per W8A8 method with its CI; "% of SmoothQuant gain" = (naive - m) / (naive - SQ)
    (Table 3) and "% of naive→fp gap closed" = (naive - m) / (naive - fp) (Table 4), each with Fieller's interval
    on the same windows' delta-method influences, or "n/a: reason" when the gain does not exist (denominator <= 0)
    or a method is missing; ``reproduction`` (results/reproduction.json): the paper's values of Tables 3/4/7 (fp's
    perplexity, each method's ratio to fp, the share) beside, with their reproduction marks."""
    df = quant_rows(results, st)
    out = []
    ppl_cols = [c for c in df.columns if c.endswith(" ppl")]
    def keep(c):
        return c in ("model", "method", "avg", "note") or any(c.startswith(p) for p in ppl_cols + ["avg "])
    for model, d in df.groupby("model", sort=True):
        rs = {r["method"]: r for r in results if r["model"] == model and compare.done(r)}
        for _, r in d.iterrows():
            row = {k: v for k, v in r.items() if keep(k)}
            m = r["method"]
            for corpus in sorted({c for x in rs.values() for c in x["scores"].get("perplexity", {})},
                                 key=_corpus_order):
                short = CORPUS_LABELS.get(corpus, corpus).replace(" ppl", "")
                for ref, name in (("smoothquant", "% of SmoothQuant gain"), ("fp", "% of naive→fp gap closed")):
                    col = f"{name} ({short})"
                    if m not in rs:
                        row[col] = "n/a: not scored"
                    elif "naive" not in rs or ref not in rs:
                        row[col] = f"n/a: {'naive' if 'naive' not in rs else ref} not scored"
                    else:
                        what = "SmoothQuant's gain over naive" if ref == "smoothquant" else "naive's loss over fp"
                        _est(row, col, compare.ppl_share([rs["naive"], rs[m], rs[ref]], corpus, (0, 1), (0, 2), what,
                                                             **(st or {})),
                             100)
            cells = paper_cells(reproduction, model, "Table 3", "Table 4", "Table 7")
            for (label, key), (pv, mark) in cells.items():
                if label == f"W8A8 {m}":  # a method's ppl / fp ppl as a % above fp (the ratio at 2 decimals: 1.03)
                    col, pv = (f"paper {key[:-5]} ppl vs fp (%)", 100 * (pv - 1)) if key.endswith(" / fp") else (
                        f"paper {key}", pv)
                    row[col], row[f"{col} mark"] = pv, mark
            out.append(row)
    return pd.DataFrame(out)


def table6(df: pd.DataFrame, paper: dict | None = None, marks: dict | None = None) -> pd.DataFrame:
    """Table 6 per model and block: plain RTN, the super weights restored after quantizing at their value (x1)
    and amplified (x factor), with the paper's average accuracy beside (``paper``: model -> {block: {original,
    amplified}}; the paper does not state its factor, so its "amplified" stands beside every factor != 1) and its
    reproduction mark (``marks``: model -> reproduce_render.marks_for(..., "Table 6"), beside the compared row)."""
    out = []
    for _, r in df.iterrows():
        restored = r["method"] != "rtn"
        f = float(r.get("sw_factor", 1.0)) if restored and pd.notna(r.get("sw_factor")) else 1.0
        variant = "RTN" if not restored else f"SW restored x{f:g}"
        row = {"model": r["model"], "bits": r["bits"], "block": r["block"], "variant": variant, "method": r["method"],
               "sw_factor": f if restored else math.nan,
               **{k: r[k] for k in r.index if k.startswith(("avg", "Δ")) or " ppl" in k or k == "note"}}
        p = ((paper or {}).get(r["model"]) or {}).get(str(r["block"])) or {}
        row["paper avg"] = (p.get("original") if f == 1.0 else p.get("amplified")) if restored else math.nan
        label = f"RTN block {r['block']}, SW restored " + ("x1" if f == 1.0 else f"amplified (sw_x{f:g})")
        mark = ((marks or {}).get(r["model"]) or {}).get((label, "avg")) if restored else None
        if mark:
            row["paper avg mark"] = mark
        out.append(row)
    t = pd.DataFrame(out)
    t["_o"] = t["block"].map(block_order)
    return t.sort_values(["model", "_o", "sw_factor"], na_position="first").drop(columns="_o").reset_index(drop=True)


def with_paper_marks(df: pd.DataFrame, reproduction: dict | None, table: str, label) -> pd.DataFrame:
    """Each row's paper average and its reproduction mark ("paper avg", "paper avg mark") where the paper's
    ``table`` prints one for the row's ``label(row)`` (e.g. Fig. 7: "INT4 rtn block 16384"); unchanged without
    ``reproduction`` (results/reproduction.json)."""
    if not reproduction or df.empty:
        return df
    out = []
    for _, r in df.iterrows():
        cell = paper_cells(reproduction, r["model"], table).get((label(r), "avg"))
        out.append({**r.to_dict(), **({"paper avg": cell[0], "paper avg mark": cell[1]} if cell else {})})
    return pd.DataFrame(out)
