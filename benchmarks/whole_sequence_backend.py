"""The experiments whose hooks look at a whole sequence (prune_sw_restore_sa with restore_tokens max, W8A8 sa_aware)
scored by lm-eval's HFLM and by the cached backend with whole sequences, on the same requests of the real model:
CPU seconds and per-request agreement (max |delta log-likelihood|, requests off by more than 1e-3, greedy flips).

    PYTHONPATH=src python benchmarks/whole_sequence_backend.py --model DIR --detect SUPER_WEIGHTS_JSON [--limit 8]

DIR is a prepared model directory and SUPER_WEIGHTS_JSON its detect/super_weights.json (results/<model>/ after a
workflow run). Requests: the first --limit documents of each of the seven tasks, built once by lm-eval."""
import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch

from superweight.detect.used import used_super_weights
from superweight.interventions.edits import zero_weights
from superweight.interventions.restore import RestoreSuperActivation
from superweight.models.load import load_model
from superweight.quant.w8a8 import W8A8, sa_channels
from superweight.scoring.cached_backend import build_lm
from superweight.scoring.data import resolve_data_dir
from superweight.scoring.zeroshot import materialize_tasks, task_manager

TASKS = "arc_challenge,arc_easy,hellaswag,lambada_openai,piqa,sciq,winogrande".split(",")


def restore(model, sws):
    r = RestoreSuperActivation.capture(model, sws, "max")
    zero_weights(model, sws)
    return r


def sa_aware(model, sws):
    return W8A8(model, 8, sa_channels(model, sws))


# (edit, backends scored: (name, batch size)); the first is the reference
RUNS = {"prune_sw_restore_sa": (restore, [("hf", 1), ("hf", 8), ("cached_whole", 8)]),
        "w8a8_sa_aware": (sa_aware, [("hf", 1), ("hf", 8), ("cached_alone", 8)])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--detect", required=True)
    ap.add_argument("--limit", type=int, default=8)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sws = used_super_weights(args.detect)
    tm = task_manager(materialize_tasks(resolve_data_dir(None), Path(tempfile.mkdtemp()) / "tasks", TASKS))
    insts = []
    for name in TASKS:
        task = tm.load_task_or_group([name])[name]
        task.build_all_requests(limit=args.limit)
        insts += list(task.instances)
    print(f"{len(insts)} requests ({args.limit} documents of each of {len(TASKS)} tasks); super weights {sws}")
    for label, (edit, backends) in RUNS.items():
        model, tok = load_model(args.model)
        with contextlib.ExitStack() as stack, torch.no_grad():
            stack.enter_context(edit(model, sws))
            ref = None
            for backend, bs in backends:
                lm = build_lm(model, tok, backend, bs, "cpu", False)
                cpu = time.process_time()
                got = lm.loglikelihood(insts, disable_tqdm=True)
                cpu = time.process_time() - cpu
                ref = ref or (backend, bs, got)
                d = [abs(a[0] - b[0]) for a, b in zip(ref[2], got)]
                flips = sum(a[1] != b[1] for a, b in zip(ref[2], got))
                print(f"{label:<20} {backend:<13} batch {bs}: {cpu:6.1f} CPU s; against {ref[0]} batch {ref[1]}: "
                      f"max |delta loglik| {max(d):.3g}, {sum(x > 1e-3 for x in d)} requests off by > 1e-3, "
                      f"{flips} greedy flips", flush=True)


if __name__ == "__main__":
    main()
