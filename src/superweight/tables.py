"""Tables rendered from result files: Table 1 (ablation) per model and across models."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .provenance import as_float

TASK_LABELS = {"arc_challenge": "ARC-c", "arc_easy": "ARC-e", "hellaswag": "HellaSwag", "lambada_openai": "LAMBADA",
               "piqa": "PIQA", "sciq": "SciQ", "winogrande": "Winogrande", "boolq": "BoolQ"}
CORPUS_LABELS = {"c4": "C4 ppl", "wikitext2": "Wiki-2 ppl"}


def _score_columns(scores: dict) -> dict:
    """Accuracy per task (%), their average, and perplexity per corpus (C4 before Wiki-2, as the paper)."""
    row = {TASK_LABELS.get(t, t): 100 * as_float(v["acc"]) for t, v in scores.get("tasks", {}).items()}
    if scores.get("tasks"):
        row["avg"] = 100 * as_float(scores.get("avg_acc"))
    ppl = scores.get("perplexity", {})
    for c in sorted(ppl, key=lambda c: list(CORPUS_LABELS).index(c) if c in CORPUS_LABELS else 99):
        row[CORPUS_LABELS.get(c, c)] = as_float(ppl[c]["ppl"])
    return row


def table1_rows(results: list[dict]) -> pd.DataFrame:
    """One row per (model, condition): accuracy per task in %, their average, perplexities, notes."""
    rows = []
    for r in results:
        row = {"model": r["model"], "condition": r["condition"]}
        if r.get("status") == "skipped":
            row["note"] = r["reason"]
            rows.append(row)
            continue
        row.update(_score_columns(r["scores"]))
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


def with_paper(df: pd.DataFrame, paper: dict[str, dict] | None) -> pd.DataFrame:
    """Interleave the paper's numbers (source column 'paper') for side-by-side reading."""
    if not paper:
        return df.assign(source="this run")
    rows = []
    for _, r in df.iterrows():
        rows.append({**r.to_dict(), "source": "this run"})
        p = paper.get(r["condition"])
        if p:
            rows.append({"model": r["model"], "condition": r["condition"], "source": "paper",
                         **{TASK_LABELS.get(k, CORPUS_LABELS.get(k, k)): v for k, v in p.items()}})
    return pd.DataFrame(rows)


def _fmt(x):
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        if math.isinf(x):
            return "inf"
        return f"{x:.2f}" if abs(x) < 1e5 else f"{x:.3g}"
    return "" if x is None else str(x)


def write_table(df: pd.DataFrame, stem: str | Path, caption: str = "") -> list[Path]:
    """CSV (full precision), Markdown and LaTeX (2 decimals, 'inf' for exploded perplexity, '–' for missing)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(stem.with_suffix(".csv"), index=False)
    shown = df.map(_fmt) if hasattr(df, "map") else df.applymap(_fmt)
    md = (f"{caption}\n\n" if caption else "") + shown.to_markdown(index=False) + "\n"
    stem.with_suffix(".md").write_text(md)
    tex = shown.to_latex(index=False, caption=caption or None, escape=True)
    stem.with_suffix(".tex").write_text(tex)
    return [stem.with_suffix(s) for s in (".csv", ".md", ".tex")]


def scaling_rows(results: list[dict]) -> pd.DataFrame:
    """One row per (model, factor): accuracy per task (%), average, perplexities; skipped models keep a note."""
    rows = []
    for r in results:
        row = {"model": r["model"], "factor": as_float(r.get("factor"))}
        if r.get("status") == "skipped":
            row["note"] = r["reason"]
        else:
            row.update(_score_columns(r["scores"]))
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["model", "factor"]).reset_index(drop=True)


def table5(df: pd.DataFrame) -> pd.DataFrame:
    """Per model and task: accuracy at factor 1 (original) and at the factor with the best average."""
    out = []
    for model, d in df.groupby("model", sort=True):
        if "avg" not in d or d["avg"].isna().all():
            out.append({"model": model, "task": "–", "note": "no confirmed super weight"})
            continue
        orig = d[d["factor"] == 1.0]
        best = d.loc[d["avg"].idxmax()]
        tasks = [c for c in d.columns if c in TASK_LABELS.values()] + ["avg"]
        for t in tasks:
            out.append({"model": model, "task": t,
                        "original (x1)": float(orig[t].iloc[0]) if len(orig) else math.nan,
                        "best factor": float(best["factor"]), "best": float(best[t])})
    return pd.DataFrame(out)


def _block_order(block) -> float:
    s = str(block)
    if s == "per_channel":
        return -1.0
    if s == "per_tensor":
        return math.inf
    if "x" in s:
        r, c = s.split("x")
        return float(int(r) * int(c))
    return float(s)


def quant_rows(results: list[dict]) -> pd.DataFrame:
    """One row per quantization experiment: method, bits, block, accuracy per task, avg, perplexities."""
    rows = []
    for r in results:
        row = {"model": r["model"], "method": r["method"]}
        if r["kind"] == "wquant":
            row.update(bits=r["bits"], block=str(r["block"]), _order=_block_order(r["block"]))
            if r.get("sw_factor") is not None:
                row["sw_factor"] = float(r["sw_factor"])
        if r.get("status") == "skipped":
            row["note"] = r["reason"]
        else:
            row.update(_score_columns(r["scores"]))
            if r["kind"] == "wquant":
                row["rel_error"] = r["intervention"]["mean_rel_error"]
                row["z"] = r["intervention"].get("z")
        rows.append(row)
    df = pd.DataFrame(rows)
    keys = ["model", "bits", "_order", "method"] if "_order" in df else ["model", "method"]
    return df.sort_values(keys).drop(columns=[c for c in ["_order"] if c in df]).reset_index(drop=True)


def act_quant_table(df: pd.DataFrame) -> pd.DataFrame:
    """Tables 3/4: perplexity per W8A8 method; "% of SmoothQuant's gain kept" = (naive - m) / (naive - SQ)."""
    out = []
    ppl_cols = [c for c in df.columns if c.endswith(" ppl")]
    for model, d in df.groupby("model", sort=True):
        by = {m: r for m, r in zip(d["method"], d.to_dict("records"))}
        for m, r in by.items():
            row = {k: r.get(k) for k in ["model", "method", *ppl_cols, "avg", "note"] if k in r}
            for c in ppl_cols:
                naive, sq = by.get("naive", {}).get(c), by.get("smoothquant", {}).get(c)
                mine = r.get(c)
                ok = all(isinstance(v, float) and math.isfinite(v) for v in (naive, sq, mine)) and naive != sq
                row[f"% of SmoothQuant gain ({c.replace(' ppl', '')})"] = 100 * (naive - mine) / (naive - sq) if ok else math.nan
            out.append(row)
    return pd.DataFrame(out)


def table6(df: pd.DataFrame, paper: dict | None = None) -> pd.DataFrame:
    """Table 6 per model and block: plain RTN, the super weights restored after quantizing at their value (x1)
    and amplified (x factor), with the paper's average accuracy beside (``paper``: model -> {block: {original,
    amplified}}; the paper does not state its factor, so its "amplified" stands beside every factor != 1)."""
    out = []
    for _, r in df.iterrows():
        restored = r["method"] != "rtn"
        f = float(r.get("sw_factor", 1.0)) if restored and pd.notna(r.get("sw_factor")) else 1.0
        variant = "RTN" if not restored else f"SW restored x{f:g}"
        row = {"model": r["model"], "bits": r["bits"], "block": r["block"], "variant": variant, "method": r["method"],
               "sw_factor": f if restored else math.nan,
               **{k: r[k] for k in r.index if k == "avg" or k.endswith(" ppl") or k == "note"}}
        p = ((paper or {}).get(r["model"]) or {}).get(str(r["block"])) or {}
        row["paper avg"] = (p.get("original") if f == 1.0 else p.get("amplified")) if restored else math.nan
        out.append(row)
    t = pd.DataFrame(out)
    t["_o"] = t["block"].map(_block_order)
    return t.sort_values(["model", "_o", "sw_factor"], na_position="first").drop(columns="_o").reset_index(drop=True)
