"""Start-up of a model job: seconds from the Python interpreter's start to the first forward pass of a score job.

    python benchmarks/startup.py --model DIR [--src SRC] [--repeat 3] [--importtime 15] [--json out.json]

DIR is a prepared model directory (results/<model>/model after a workflow run; copy it to local disk first). Each run
is a fresh interpreter that does what workflow/scripts/score.py does before its first forward: the script's imports,
the run's config (config/config.yaml), the prepared model (``load_model``), then one forward of a ``perplexity.seqlen``
window. It prints, per stage, the seconds since the parent started the interpreter (wall) and the child's CPU seconds
(``time.process_time``: on a shared machine the wall clock also counts other processes' time); the median over
``--repeat`` runs. ``--src``: the package source to time (default this checkout's src/; e.g. an older version's, from
``git archive``). ``--importtime N``: one more run under ``python -X importtime``, the N slowest imports."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the child: score.py's steps before its first forward, each stage's wall clock printed as it ends
CHILD = r"""
import time, json, sys
marks = [("interpreter", time.time(), time.process_time())]
def mark(name):
    marks.append((name, time.time(), time.process_time()))
import contextlib
from pathlib import Path
import torch
mark("import torch")
from superweight.scoring.data import checksums
from superweight.detect.used import used_super_weights
from superweight.analysis.experiments import apply
from superweight.interventions.applicability import NotApplicable
from superweight.scoring.backends import eval_backend
from superweight.models.load import load_model
from superweight.provenance import Provenance, write_json
from superweight.workflow.runlog import start
from superweight.scoring.limits import task_limits  # noqa: F401 (score.py imports it)
from superweight.scoring.score import score
mark("import superweight (score.py's imports)")
import yaml
cfg = yaml.safe_load(open(sys.argv[2]))
mark("config")
model, tok = load_model(sys.argv[1], "float32", "cpu")
mark("load_model (tokenizer + weights)")
torch.set_num_threads(1)
ids = torch.randint(0, len(tok), (1, int(cfg["perplexity"]["seqlen"])))
mark("ready: first forward starts")
with torch.no_grad():
    model(ids)
mark("first forward done")
print("MARKS " + json.dumps(marks))
"""


def run_once(model: str, config: str, env: dict, importtime: bool = False) -> tuple[dict, str]:
    """({stage: (wall seconds since the interpreter was started, the child's CPU seconds)}, the child's stderr)."""
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", CHILD, model, config]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode:
        raise SystemExit(f"child failed ({p.returncode}): {p.stderr.strip().splitlines()[-1]}")
    marks = json.loads(next(line for line in p.stdout.splitlines() if line.startswith("MARKS "))[6:])
    return {name: (t - t0, cpu) for name, t, cpu in marks}, p.stderr


def slowest_imports(stderr: str, n: int) -> list[tuple[float, str]]:
    """The n top-level-ish imports with the largest cumulative time (``-X importtime``'s second column), seconds."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cum, name = line[len("import time:"):].split("|")
            depth = (len(name) - len(name.lstrip())) // 2
            if depth <= 1:
                rows.append((int(cum) / 1e6, name.strip()))
    return sorted(rows, reverse=True)[:n]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a prepared model directory")
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--src", default=str(ROOT / "src"), help="the package source to time")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--importtime", type=int, default=15, help="list the N slowest imports (0: skip)")
    ap.add_argument("--json", help="write the timings here")
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(Path(args.src).resolve()), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    runs = [run_once(args.model, args.config, env)[0] for _ in range(args.repeat)]
    stages = list(runs[0])
    median = {s: [statistics.median(r[s][k] for r in runs) for k in (0, 1)] for s in stages}
    ready = "ready: first forward starts"
    print(f"{args.src}: seconds to the first forward (median of {args.repeat} runs; wall "
          + ", ".join(f"{r[ready][0]:.2f}" for r in runs) + "; CPU " + ", ".join(f"{r[ready][1]:.2f}" for r in runs) + ")")
    print(f"  {'stage (ends at)':<42} {'wall':>6} {'(+)':>7} {'CPU':>6} {'(+)':>7}")
    prev = [0.0, 0.0]
    for s in stages:
        w, c = median[s]
        print(f"  {s:<42} {w:6.2f} {w - prev[0]:+7.2f} {c:6.2f} {c - prev[1]:+7.2f}")
        prev = [w, c]
    out = {"model": args.model, "src": args.src, "runs": runs, "median": median, "load": os.getloadavg()}
    if args.importtime:
        _, err = run_once(args.model, args.config, env, importtime=True)
        out["slowest_imports"] = slowest_imports(err, args.importtime)
        print("slowest imports (cumulative seconds, one run under -X importtime, which slows imports):")
        for sec, name in out["slowest_imports"]:
            print(f"  {sec:6.2f}  {name}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
