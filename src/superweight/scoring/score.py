"""Score one (possibly modified) model: GPTQ perplexity on each corpus and lm-eval zero-shot accuracy."""
from __future__ import annotations

import logging
import math
from pathlib import Path

from superweight.scoring.accuracy import accuracy, avg_se
from superweight.scoring.limits import scored_tasks
from superweight.scoring.looks import look_sizes
from superweight.models.meter import counted_as
from superweight.settings import Perplexity, Sequential

log = logging.getLogger(__name__)
# choices no config key changes, each a row of the protocol page (report/fixed_choices.py)
FIXED_CHOICES = ("score.acc",)


def score(model, tok, corpora: dict[str, "torch.Tensor"], ppl: Perplexity, task_docs: dict[str, int | None],
          task_dir: Path | None, eval_batch_size: int = 8, device: str = "cpu", add_bos_token: bool | None = False,
          backend: str = "hf", articles: dict[str, list[int]] | None = None) -> dict:
    """{"perplexity": {corpus: {...}}, "tasks": {task: {...}}, "avg_acc": float, "avg_acc_se": float,
    "eval_backend": str}: each task keeps its per-document outcomes and each corpus its per-window NLLs (see
    evaluate and perplexity). ``task_docs``: {task: documents to score (None: all)}. ``articles``: per corpus, each article's first token (each window records its own)."""
    from superweight.scoring.zeroshot import evaluate
    from superweight.scoring.perplexity import perplexity  # torch: imported by scoring jobs, not by the workflow's host (reuse.py)

    out = {"perplexity": {}, "tasks": {}}
    for name, ids in corpora.items():
        out["perplexity"][name] = perplexity(model, ids, ppl.seqlen, ppl.windows_of(name), ppl.batch_size,
                                             desc=f"ppl {name}", order=ppl.window_order,
                                             articles=(articles or {}).get(name))
        log.info("%s ppl %.4g (%d tokens, %d windows)", name, out["perplexity"][name]["ppl"],
                 out["perplexity"][name]["tokens"], out["perplexity"][name]["windows"])
    if task_docs:
        out["tasks"] = evaluate(model, tok, task_docs, task_dir, eval_batch_size, device, add_bos_token, backend)
        out.update(average_acc(out["tasks"]))
        out["eval_backend"] = backend
    return out


def average_acc(tasks: dict[str, dict]) -> dict:
    """{"avg_acc": mean accuracy over tasks, "avg_acc_se": its standard error (tasks independent)}."""
    accs = [v["acc"] for v in tasks.values() if v["acc"] is not None]
    ses = [v["acc_se"] for v in tasks.values() if v.get("acc_se") is not None]
    return {"avg_acc": sum(accs) / len(accs) if accs else math.nan,
            "avg_acc_se": avg_se(ses) if ses and len(ses) == len(accs) else math.nan}


def restrict(scores: dict, corpora: list[str], tasks: list[str], limits: dict | None = None) -> dict:
    """The part of ``score``'s result for a subset of its corpora and tasks (each is scored on its own); with
    ``limits`` ({task: limit}), each task's first ``limit`` documents (lm-eval's ``limit``), its accuracies and SEs
    recomputed from their per-document outcomes; a task whose limit is 0 is left out."""
    tasks = list(scored_tasks(tasks, limits))  # limit 0: no accuracies (perplexity only)
    missing = [c for c in corpora if c not in scores["perplexity"]] + [t for t in tasks if t not in scores["tasks"]]
    if missing:
        raise KeyError(f"scores have no {', '.join(missing)}")
    out = {**scores, "perplexity": {c: scores["perplexity"][c] for c in corpora},
           "tasks": {t: first_documents(scores["tasks"][t], (limits or {}).get(t)) for t in tasks}}
    if tasks:
        out.update(average_acc(out["tasks"]))
    else:
        out.pop("avg_acc", None)
        out.pop("avg_acc_se", None)
    return out


def first_documents(task: dict, limit) -> dict:
    """One task's result (``evaluate.task_result``) on its documents with doc_id < ``limit`` (None: all)."""
    if limit is None or task.get("limit") == limit:
        return task
    if not float(limit).is_integer() or limit < 1:
        raise ValueError(f"the first {limit} documents: a subset needs a whole number of documents")
    docs = task.get("docs")
    if not docs:
        raise KeyError(f"no per-document outcomes to take the first {limit} documents from")
    keep = [i for i, d in enumerate(docs["doc_id"]) if d < limit]
    sub = {k: [v[i] for i in keep] for k, v in docs.items()}
    out = {**task, "n": len(keep), "limit": limit, "docs": sub, "subset_of": task.get("n")}
    for m in ("acc", "acc_norm"):
        if task.get(m) is not None and m in sub:
            a = accuracy(sub[m])
            out[m], out[f"{m}_se"] = a["acc"], a["se"]
    return out


# --- sequential scoring (config section ``sequential``; stats/sequential.py has the stopping rule) ---

def merge_perplexity(parts: list[dict]) -> dict:
    """One perplexity result from results on consecutive parts of the same corpus's window list (perplexity's
    fields)."""
    tokens = sum(p["tokens"] for p in parts)
    mean = sum(p["nll_mean"] * p["tokens"] for p in parts) / tokens
    return {**parts[0], "ppl": math.exp(mean) if mean < 700 else math.inf, "nll_mean": mean, "tokens": tokens,
            "windows": sum(p["windows"] for p in parts), "nonfinite_tokens": sum(p["nonfinite_tokens"] for p in parts),
            "window_nll": [x for p in parts for x in p["window_nll"]],
            **{k: [x for p in parts for x in p[k]] for k in ("window_start", "window_article") if k in parts[0]}}


def merge_task(parts: list[dict]) -> dict:
    """One task result from results on consecutive document ranges (zeroshot.task_result's fields)."""
    docs = {k: [x for p in parts for x in p["docs"][k]] for k in parts[0]["docs"]}
    out = {**parts[-1], "n": len(docs["doc_id"]), "docs": docs}
    for m in ("acc", "acc_norm"):
        if m in docs:
            a = accuracy(docs[m])
            out[m], out[f"{m}_se"] = a["acc"], a["se"]
    return out


@counted_as("zero_shot")
def evaluate_range(lm, tm, task: str, start: int, stop: int, loaded=None) -> dict:
    """One task on its documents start..stop-1 (lm-eval ``samples``; it logs each document's index in the whole
    task), so that consecutive ranges concatenate to the first ``stop`` documents. ``loaded``: the task already
    built (lm-eval's Task; ``get_task_dict``), so that each look does not read its dataset again."""
    from lm_eval import simple_evaluate

    from superweight.scoring.zeroshot import task_result

    idx = list(range(start, stop))
    out = simple_evaluate(model=lm, tasks=[task if loaded is None else loaded], task_manager=tm,
                          samples={task: idx}, num_fewshot=0, bootstrap_iters=0, log_samples=True)
    res = task_result(out["results"][task], out.get("samples", {}).get(task, []), stop)
    if res["docs"]["doc_id"] != idx:
        raise RuntimeError(f"{task}: lm-eval scored documents {res['docs']['doc_id'][:5]}..., not {start}..{stop - 1}")
    return res


def run_looks(design, chunk, merge, tests) -> tuple[dict, dict]:
    """Score look by look: chunk(a, b) scores units a..b-1, merge joins the chunks, tests(merged, n) gives each
    comparison's (p, side) on the first n units, or None when its reference has fewer. Stops once every
    comparison is decided (stats.sequential.decide: 'higher' / 'lower' than the reference) or at the last look.
    Returns (merged result, record of the looks, the n at stop and why)."""
    from superweight.stats.sequential import decide, stop_reason

    parts, state, looks, prev = [], {}, [], 0
    for k, n in enumerate(design.looks):
        parts.append(chunk(prev, n))
        prev, cur = n, merge(parts)
        ps = tests(cur, n)
        for ref, pv in ps.items():
            if state.get(ref, "continue") == "continue":
                d = "inconclusive" if pv is None else decide(pv[0], pv[1], k, design)
                state[ref] = {"holds": "higher", "fails": "lower"}.get(d, d)
        looks.append({"n": n, "level": design.levels[k], "p": {r: v[0] for r, v in ps.items() if v is not None},
                      "decisions": dict(state)})
        if not state:
            continue  # nothing to compare with (the reference condition): every look
        stop, why = stop_reason(state, k, design)
        if stop:
            break
    why = why if state else f"no comparison: scored to the maximum n={design.looks[-1]}"
    return cur, {"design": design.as_dict(), "n": prev, "stopped_at_look": len(looks), "why": why, "looks": looks}


def score_sequential(model, tok, corpora: dict[str, "torch.Tensor"], ppl: Perplexity, task_docs: dict[str, int | None],
                     task_dir: Path | None, seq: Sequential, references: dict[str, dict], eval_batch_size: int = 8,
                     device: str = "cpu", add_bos_token: bool | None = False, backend: str = "hf",
                     parts: dict[str, list[str]] | None = None, articles: dict[str, list[int]] | None = None) -> dict:
    """``score`` scored in looks (``seq``: `sequential`: looks as fractions of each maximum, alpha, spending), each corpus's windows and the tasks' documents as prefixes of their fixed order, stopping
    each once its comparisons with every reference (name -> that condition's ``scores``) are decided: the
    perplexity ratio against 1 (paired t on window log-ratios) per corpus, the average accuracy difference
    against 0 (paired documents); ``parts`` ({"windows": names, "docs": names}, ``compared``) narrows which
    references each part is compared with (default: every one). The documents are scored in full when the tasks'
    limits are not one number. The same fields as ``score`` plus "sequential": {"windows": {corpus: record}, "docs": record} (run_looks; no "docs"
    when the documents were scored in full)."""
    from superweight.stats import intervals as stats
    from superweight.stats.sequential import Design
    from superweight.scoring.perplexity import perplexity, windows

    design = {"alpha": seq.alpha, "spending": seq.spending}
    out = {"perplexity": {}, "tasks": {}, "sequential": {"windows": {}}}
    L, bs = ppl.seqlen, ppl.batch_size
    for name, ids in corpora.items():
        n_max = min(ppl.windows_of(name) or math.inf, len(windows(len(ids), L)))
        refs = {r: s["perplexity"][name]["window_nll"] for r, s in references.items()
                if name in s.get("perplexity", {}) and (parts is None or r in parts["windows"])}

        def chunk(a, b, ids=ids, name=name, n_max=n_max):
            return perplexity(model, ids, L, n_max, bs, desc=f"ppl {name} {a}-{b}", part=(a, b),
                              order=ppl.window_order, articles=(articles or {}).get(name))

        def tests(cur, n, refs=refs):
            arts = cur.get("window_article", [])[:n] or None  # windows that share an article: one unit
            return {r: None if len(w) < n else stats.ppl_ratio_ci(w[:n], cur["window_nll"][:n], clusters=arts).p(1.0)
                    for r, w in refs.items()}

        out["perplexity"][name], out["sequential"]["windows"][name] = run_looks(
            Design(look_sizes(seq.looks, n_max), **design), chunk, merge_perplexity, tests)
        log.info("%s ppl %.4g: %s", name, out["perplexity"][name]["ppl"], out["sequential"]["windows"][name]["why"])
    if not task_docs:
        return out
    limits = set(task_docs.values())
    if len(limits) != 1 or None in limits:  # looks need one maximum: the documents are scored in full
        log.info("tasks scored in full, not in looks: the limits %s are not one number of documents", task_docs)
        full = score(model, tok, {}, ppl, task_docs, task_dir, eval_batch_size, device, add_bos_token, backend)
        return {**full, "perplexity": out["perplexity"], "sequential": out["sequential"]}
    from superweight.scoring.cached_backend import build_lm
    from superweight.scoring.zeroshot import task_manager

    lm, tm = build_lm(model, tok, backend, eval_batch_size, device, add_bos_token), task_manager(task_dir)
    refs = {r: s["tasks"] for r, s in references.items() if all(t in s.get("tasks", {}) for t in task_docs)
            and (parts is None or r in parts["docs"])}

    from lm_eval.tasks import get_task_dict

    loaded = get_task_dict(list(task_docs), tm)  # each task's dataset read once for all looks

    def chunk(a, b):
        return {t: evaluate_range(lm, tm, t, a, b, loaded[t]) for t in task_docs}

    def merge(parts):
        return {t: merge_task([p[t] for p in parts]) for t in task_docs}

    def tests(cur, n):
        return {r: None if any(rt[t]["n"] < n for t in task_docs) else stats.acc_linear(
            [_paired(rt[t], cur[t], n) for t in task_docs], (-1.0, 1.0)).p(0.0) for r, rt in refs.items()}

    out["tasks"], out["sequential"]["docs"] = run_looks(Design(look_sizes(seq.looks, limits.pop()), **design),
                                                        chunk, merge, tests)
    out.update(average_acc(out["tasks"]))
    out["eval_backend"] = backend
    log.info("tasks: %s", out["sequential"]["docs"]["why"])
    return out


def _paired(ref: dict, cur: dict, n: int):
    """(n, 2) array of a reference's and the current condition's 0/1 outcomes on documents 0..n-1."""
    import numpy as np

    a, b = first_documents(ref, n)["docs"], first_documents(cur, n)["docs"]
    if a["doc_id"] != b["doc_id"]:
        raise ValueError(f"documents do not pair: {a['doc_id'][:5]}... vs {b['doc_id'][:5]}...")
    return np.stack([np.asarray(a["acc"], float), np.asarray(b["acc"], float)], 1)
