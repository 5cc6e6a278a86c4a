"""Nothing scored twice: scaling x1 and W8A8 ``fp`` are the ablation's ``original`` model, scaling x0 is its
``prune_sw`` model.

Each corpus's perplexity and each task's accuracy is computed on its own (``scoring.score``), and lm-eval's
``limit`` scores the first documents of a task, so a job can read an ablation condition's scores when every corpus
and task it needs was scored there with the same settings on at least as many documents (its table then shows the
first ``limit`` documents' outcomes, recomputed from the per-document values). ``difference`` says whether that
holds (None) or what differs."""
from __future__ import annotations

from superweight.scoring.limits import task_limits

# keys that select what is scored, not how: compared per corpus / per task below
_PER_ITEM = {"perplexity": ("corpora", "windows"), "eval": ("tasks", "limit")}


def settings(corpora: list[str], perplexity: dict, eval_cfg: dict) -> dict:
    """What shapes a scoring job's numbers (besides the model and device, which a workflow shares)."""
    return {"corpora": list(corpora), "perplexity": perplexity, "eval": eval_cfg}


def covers(scored, needed) -> bool:
    """Whether a task scored with limit ``scored`` holds the documents of limit ``needed`` (None: all documents;
    0: none, a sweep measured by perplexity only; a fraction or another limit below 1 only covers itself)."""
    if scored == needed or needed == 0:
        return True
    if any(x is not None and (not float(x).is_integer() or x < 1) for x in (scored, needed)):
        return False
    return scored is None or (needed is not None and int(needed) <= int(scored))


def difference(source: dict, target: dict) -> str | None:
    """None when every score ``target`` needs was computed by ``source`` with the same settings (on at least as
    many documents per task); else why not."""
    missing = [c for c in target["corpora"] if c not in source["corpora"]]
    if missing:
        return f"corpus {', '.join(missing)} not scored by the source"
    for part, per_item in _PER_ITEM.items():
        s, t = source[part], target[part]
        for k in sorted((set(s) | set(t)) - set(per_item)):
            if s.get(k) != t.get(k):
                return f"{part}.{k}: {s.get(k)!r} vs {t.get(k)!r}"
    sw, tw = source["perplexity"].get("windows") or {}, target["perplexity"].get("windows") or {}
    for c in target["corpora"]:
        if sw.get(c) != tw.get(c):
            return f"perplexity.windows.{c}: {sw.get(c)!r} vs {tw.get(c)!r}"
    s_tasks, t_tasks = source["eval"]["tasks"], target["eval"]["tasks"]
    missing = [t for t in t_tasks if t not in s_tasks]
    if missing:
        return f"task {', '.join(missing)} not scored by the source"
    sl, tl = task_limits(s_tasks, source["eval"]["limit"]), task_limits(t_tasks, target["eval"]["limit"])
    for t in t_tasks:
        if not covers(sl[t], tl[t]):
            return f"eval.limit for {t}: {tl[t]!r} documents needed, {sl[t]!r} scored"
    return None
