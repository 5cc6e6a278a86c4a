"""The paper's quantization numbers of one model against its result files (report.reproduce_rows reads them all): Tables 3/4/7
(W8A8: fp's perplexity, each method's perplexity relative to fp, the printed share), Table 6 and Fig. 7 (INT4 RTN
average accuracy)."""
from __future__ import annotations

import math

from superweight import paths
from superweight.report import compare
from superweight.report.reproduce import (DAMAGED_DROP, NOT_RUN, UNDECIDED, Row, mark_estimate, ratio_band, row,
                                          share_band)
from superweight.report.reproduce_read import NO_AMP_NOTE, Files, acc_rows, on_paper_tasks, ppl_protocol, ppl_row

SHARE_REF = {"table3": "smoothquant", "table4": "fp", "table7": "fp"}


def w8a8(f: Files, model: str, table: str, paper: dict, level: float) -> list[Row]:
    """Tables 3/4/7 per corpus: fp's perplexity, each method's ppl / ppl(fp) against the paper's ratio, the
    printed share (reproduced or undecided)."""
    label = table.replace("table", "Table ")
    rs = {m: f.scored(paths.scores("aquant", amethod=m)) for m in ("fp", "naive", "smoothquant", "sa_aware")}
    out = []
    for corpus, vals in paper.items():
        ppls = [v for k, v in vals.items() if k != "share"]
        for m, pv in vals.items():
            if m == "fp":
                out.append(ppl_row(label, model, "W8A8 fp", rs["fp"], corpus, pv, level))
            if m in ("fp", "share"):
                continue
            lo, hi, coarse = ratio_band(pv, vals["fp"], ppls)
            q, ratio = f"W8A8 {m}: {corpus} ppl / fp ppl", round(pv / vals["fp"], 5)
            two = [rs["fp"], rs.get(m)]
            if not all(r and compare.window_nll(r, corpus) for r in two):
                out.append(row(label, model, q, ratio, "ppl_ratio_quant", (lo, hi), (UNDECIDED, NOT_RUN, {}), ""))
                continue
            prot = [ppl_protocol(r, corpus) for r in two]
            whole = all(w for w, _, _ in prot)
            got = mark_estimate(compare.ppl_ratio(*two, corpus, table=True), lo, hi, level, whole,
                                subset=next((s for _, _, s in prot if s), ""))
            why = next((o for _, o, _ in prot if o), "") or (coarse if whole else "")
            out.append(row(label, model, q, ratio, "ppl_ratio_quant", (lo, hi),
                           (UNDECIDED, why, got[2]) if why else got, "whole set" if whole else "sample"))
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
        whole = all(w for w, _, _ in prot)
        got = mark_estimate(est, *lohi, level, whole, 100.0, next((s for _, _, s in prot if s), ""), far=UNDECIDED)
        if got[0] == UNDECIDED and got[1].startswith("the paper's whole set scored"):
            got = (UNDECIDED, got[1] + ": protocol the paper leaves unstated moves a share more than its band, so "
                   "a share is never marked not reproduced", got[2])
        other = next((why for _, why, _ in prot if why), "")
        out.append(row(label, model, q, vals["share"], "share", lohi, (UNDECIDED, other, got[2]) if other else got,
                       "whole set" if whole else "sample"))
    return out


def _avg_row(table: str, model: str, q: str, r: dict | None, pv: float, orig: float | None, level: float,
             note: str = "") -> Row:
    damaged = orig is not None and pv < orig - DAMAGED_DROP
    return acc_rows(table, model, q, r, {"avg": pv}, level, damaged, note)[0]


def _avg7(r: dict) -> float:
    r7, _ = on_paper_tasks(r)
    return r7["scores"]["avg_acc"] if r7 else -math.inf


def table6(f: Files, model: str, paper: dict, orig: float | None, level: float) -> list[Row]:
    """Table 6: average accuracy with the super weights restored after RTN at x1 and amplified (the paper does not
    state its factor: of this run's factors, the one with the highest average, picked on the same data)."""
    out = []
    for block, vals in paper.items():
        setting = {"bits": 4, "wmethod": "rtn_keep_sw", "block": block}
        out.append(_avg_row("Table 6", model, f"RTN block {block}, SW restored x1",
                            f.scored(paths.scores("wquant", **setting)), vals["original"], orig, level))
        amp = [(x["factor"], f.scored(p)) for p, x in f.find("wquant_restored", **setting)]
        amp = [(x, r) for x, r in amp if r and r["scores"].get("tasks")]
        x, r = max(amp, key=lambda a: _avg7(a[1])) if amp else (None, None)
        q = f"RTN block {block}, SW restored amplified" + (f" (sw_x{x})" if x else "")
        out.append(_avg_row("Table 6", model, q, r, vals["amplified"], orig, level,
                            f"; best of {len(amp)} factors on these data" + NO_AMP_NOTE))
    return out


def fig7(f: Files, model: str, paper: dict, orig: float | None, level: float) -> list[Row]:
    return [_avg_row("Fig. 7", model, f"INT4 {m} block {block}",
                     f.scored(paths.scores("wquant", bits=4, wmethod=m, block=block)), v, orig, level)
            for block, vals in paper.items() for m, v in vals.items()]


