"""Reading a model's result files for the reproduction marks (report.reproduce_rows, reproduce_quant): the files,
whether a result scored the paper's whole set (every document; its windows, their order from the result's own
record) or a deterministic subset, averages over the paper's seven tasks only, and the accuracy and perplexity
rows every table shares."""
from __future__ import annotations

import json
from pathlib import Path

from superweight import paths
from superweight.report import compare
from superweight.report.protocol_rows import TASKS as PAPER_TASKS
from superweight.report.reproduce import (DAMAGED_PPL, NOT_RUN, TOLERANCE, UNDECIDED, Row, band, mark_estimate,
                                          row)
from superweight.stats.intervals import proportion

PAPER_SEQLEN = 2048
PAPER_WINDOWS = {"wikitext2": None, "c4": 256}  # None: every window of the corpus (PAPER.md, GPTQ's protocol)
NO_AMP_NOTE = "; the 1-point band exceeds the amplification gain: this mark says nothing about amplification"


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

    def find(self, kind: str, **given) -> list[tuple[str, dict[str, str]]]:
        """(path, its fields) of each result of ``kind`` with the ``given`` fields, by path (superweight.paths)."""
        return paths.find(kind, self.files, **given)


def _cfg(r: dict) -> dict:
    return ((r.get("provenance") or {}).get("config") or {})


def task_whole(r: dict, task: str) -> bool:
    """The task scored on all its documents (no ``limit``, no sequential looks)."""
    t = r["scores"].get("tasks", {}).get(task) or {}
    return "limit" in t and t["limit"] is None and not r["scores"].get("sequential")


def doc_subset(r: dict) -> str:
    """Why a result's documents are no random sample of the paper's (lm-eval's limit: the first N)."""
    ns = sorted({t.get("n") for t in r["scores"].get("tasks", {}).values() if t.get("limit") is not None})
    return (f"a subset: the first {'/'.join(str(n) for n in ns) or 'N'} documents per task (lm-eval limit"
            + (", or scored in looks" if r["scores"].get("sequential") else "") + ") are not a random sample, so no "
            "interval bounds the whole-set value")


def on_paper_tasks(r: dict) -> tuple[dict | None, str]:
    """(the result cut to the paper's seven tasks, "") or (None, why: another quantity) when it lacks one."""
    tasks = r["scores"].get("tasks", {})
    have = [t for t in PAPER_TASKS if t in tasks]
    if len(have) < len(PAPER_TASKS):
        return None, f"another quantity: the run scored {len(have)} of the paper's {len(PAPER_TASKS)} tasks"
    cut = {t: tasks[t] for t in PAPER_TASKS}
    avg = sum(t["acc"] for t in cut.values()) / len(cut)
    return {**r, "scores": {**r["scores"], "tasks": cut, "avg_acc": avg}}, ""


def ppl_protocol(r: dict, corpus: str) -> tuple[bool, str, str]:
    """(whole, why another quantity or "", why a subset or ""): the paper's windows of ``corpus`` scored (2048
    tokens; every WikiText-2 window, C4's first 256, the order read from the result's own record; unknown: not
    whole), or a deterministic subset of them."""
    p = r["scores"].get("perplexity", {}).get(corpus) or {}
    if p.get("seqlen") != PAPER_SEQLEN:
        return False, (f"scored at {p.get('seqlen')} tokens per window, the paper at {PAPER_SEQLEN}: another "
                       "quantity"), ""
    order = p.get("window_order")
    if order is None:
        return False, "", "the result does not record its window order: not known to be the paper's windows"
    want = PAPER_WINDOWS.get(corpus, "?")
    asked = ((_cfg(r).get("perplexity") or {}).get("windows") or {}).get(corpus, "?")
    whole = ((asked is None and want is None) or (want is not None and p.get("windows") == want
                                                  and order == "first")) and not r["scores"].get("sequential")
    return whole, "", "" if whole else (f"a subset: {p.get('windows')} windows taken {order!r} are not a random "
                                        "sample, so no interval bounds the whole-set value")


def acc_rows(table: str, model: str, label: str, r: dict | None, paper: dict, level: float,
             damaged: bool = False, note: str = "") -> list[Row]:
    """Each task's accuracy and the average over the paper's seven tasks (%) of one result against the paper's
    ``paper`` {task|avg: value}; ``note`` ends each reason."""
    out = []
    for key, pv in paper.items():
        tol = "accuracy_damaged" if damaged else "accuracy"
        lohi = band(pv, TOLERANCE[tol])
        q = f"{label}: {'avg accuracy' if key == 'avg' else key} (%)"
        if r is None:
            out.append(row(table, model, q, pv, tol, lohi, (UNDECIDED, NOT_RUN, {}), ""))
            continue
        if key == "avg":
            r7, other = on_paper_tasks(r)
            if r7 is None:
                out.append(row(table, model, q, pv, tol, lohi, (UNDECIDED, other, {}), ""))
                continue
            est = compare.avg_acc(r7)
            whole = all(task_whole(r, t) for t in PAPER_TASKS)
        else:
            docs = compare.task_docs(r, key)
            est = proportion(int(round(sum(docs.values()))), len(docs)) if docs else None
            whole = task_whole(r, key)
        m, why, shown = mark_estimate(est, *lohi, level, whole, 100.0, doc_subset(r))
        out.append(row(table, model, q, pv, tol, lohi, (m, why + note, shown), "whole set" if whole else "sample"))
    return out


def ppl_row(table: str, model: str, label: str, r: dict | None, corpus: str, pv: float, level: float) -> Row:
    """One perplexity against the paper's (damaged above DAMAGED_PPL)."""
    tol = "ppl_damaged" if pv > DAMAGED_PPL else "ppl"
    lohi = band(pv, TOLERANCE[tol])
    q = f"{label}: {corpus} ppl"
    if r is None or not compare.window_nll(r, corpus):
        return row(table, model, q, pv, tol, lohi, (UNDECIDED, NOT_RUN, {}), "")
    whole, other, subset = ppl_protocol(r, corpus)
    got = mark_estimate(compare.ppl(r, corpus, table=True), *lohi, level, whole, subset=subset)
    if other:
        got = (UNDECIDED, other, got[2])
    return row(table, model, q, pv, tol, lohi, got, "whole set" if whole else "sample")


