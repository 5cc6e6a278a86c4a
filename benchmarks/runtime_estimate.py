"""Run-time estimate against measurement, per model job of a finished run (issue 36).

For every model job of the run's dry run (``snakemake -n --forceall`` with the same arguments) that left a work
record beside its log (``<log>.work.json``, superweight.models.meter): the tokens its rule declares against those it
forwarded, the forward seconds at the configured rate against the measured ones, and the whole estimate (start-up +
loading + forward, the dry run's ``estimate_s``) against the job's Snakemake benchmark seconds. Prints a table and
the measured rate per job (2 x parameters x forwarded tokens / forward seconds); writes the rows as JSON.

    python benchmarks/runtime_estimate.py [--out FILE.json] [--cpu-gflops R] [-- SNAKEMAKE ARGS]
(run in the finished run's directory; give --cpu-gflops the run's `resources.cpu_gflops`, for the forward column)
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

from superweight.workflow import resources as R
from superweight.workflow.plan import jobs_from_dry_run


def benchmark_s(log: Path) -> float | None:
    """The job's wall seconds from its Snakemake benchmark (results/X/logs/NAME.log -> results/X/benchmarks/NAME.tsv)."""
    tsv = log.parent.parent / "benchmarks" / (log.stem + ".tsv")
    if not tsv.is_file():
        return None
    with open(tsv) as f:
        return float(next(csv.DictReader(f, delimiter="\t"))["s"])


def rows(jobs, cpu_flops: float) -> list[dict]:
    """One row per model job that left a record: declared against forwarded tokens, the estimate (the dry run's
    ``estimate_s``: start-up, loading and forward at the configured rate) against the measured seconds."""
    out = []
    for j in jobs:
        rec_path = Path(j.log + ".work.json") if j.log else None
        wall = benchmark_s(Path(j.log)) if j.log else None
        if j.estimate_s is None or wall is None:
            continue
        # prepare_model loads no model through load_model: no record, only its wall seconds
        rec = json.loads(rec_path.read_text()) if rec_path.is_file() else {"tokens": 0, "forward_s": 0.0,
                                                                          "startup_s": None, "load_s": None,
                                                                          "by_purpose": {}}
        facts = R.facts_from_dir(Path("results") / j.wildcards["model"] / "model")
        rate = 2 * facts.params * rec["tokens"] / rec["forward_s"] / 1e9 if rec["forward_s"] else None
        out.append({"job": j.name, "tokens_declared": j.forward_tokens, "tokens_forwarded": rec["tokens"],
                    "forward_s_estimated": round(2 * facts.params * j.forward_tokens / cpu_flops, 1),
                    "forward_s_measured": rec["forward_s"], "job_s_estimated": j.estimate_s, "job_s_measured": wall,
                    "startup_s": rec["startup_s"], "load_s": rec["load_s"],
                    "measured_gflops": None if rate is None else round(rate, 1),
                    "by_purpose": {k: v["tokens"] for k, v in rec["by_purpose"].items()},
                    "job_ratio": None if not wall else round(j.estimate_s / wall, 2)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="benchmarks/runtime_estimate.json")
    p.add_argument("--cpu-gflops", type=float, default=R.Rates().cpu_flops / 1e9,
                   help="the rate the run's config set (resources.cpu_gflops): for the forward-seconds column")
    p.add_argument("snakemake_args", nargs="*")
    a = p.parse_args(argv)
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", *a.snakemake_args],
                         capture_output=True, text=True)
    if dry.returncode:
        print(dry.stderr[-2000:], file=sys.stderr)
        return 1
    table = rows(jobs_from_dry_run(dry.stdout + dry.stderr), a.cpu_gflops * 1e9)
    if not table:
        print("no job left a work record (<log>.work.json): run the workflow first", file=sys.stderr)
        return 1
    print(f"{'job':48} {'tokens decl':>11} {'forwarded':>10} {'fwd s est':>9} {'fwd s':>7} {'job s est':>9} "
          f"{'job s':>7} {'est/meas':>8} {'GFLOP/s':>7}")
    for r in table:
        print(f"{r['job'][:48]:48} {r['tokens_declared']:>11,} {r['tokens_forwarded']:>10,} "
              f"{r['forward_s_estimated']:>9.1f} {r['forward_s_measured']:>7.1f} {r['job_s_estimated']:>9.1f} "
              f"{r['job_s_measured'] or float('nan'):>7.1f} {r['job_ratio'] or float('nan'):>8.2f} "
              f"{r['measured_gflops'] or float('nan'):>7.1f}")
    within = [r for r in table if r["job_ratio"] and 0.5 <= r["job_ratio"] <= 2]
    print(f"\n{len(within)} of {len(table)} jobs: estimate within 2x of the measured job seconds "
          f"(rate {a.cpu_gflops:g} GFLOP/s)")
    Path(a.out).write_text(json.dumps({"cpu_gflops": a.cpu_gflops, "jobs": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
