"""Where a workflow run's time went: wall time of the run and per-rule totals of its jobs.

    python benchmarks/run_time.py [--timing results/timing.csv] [--log .snakemake/log/<run>.snakemake.log]
                                  [--wall SECONDS] [--rules workflow/rules]

results/timing.csv (written when a run succeeds: one row per benchmarked job, seconds and max RSS) gives the
per-rule totals; the run's wall time comes from --wall (e.g. from `time snakemake --cores 2`) or else from the first
and last timestamps of the Snakemake log (the newest in .snakemake/log/ by default)."""
import argparse
import re
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]")


def rule_names(rules_dir: Path) -> list[str]:
    names = set()
    for f in rules_dir.rglob("*.smk"):
        text = f.read_text()
        names |= set(re.findall(r"^\s*rule (\w+):", text, re.M))
        names |= set(re.findall(r"^\s*use rule \w+ as (\w+) with:", text, re.M))  # variants of a template rule
    return sorted(names, key=len, reverse=True)  # longest first: score_scaled before score


def rule_of(job: str, names: list[str]) -> str:
    """A benchmark file is named after its rule and wildcards (score_scaled_x1.5 -> score_scaled)."""
    return next((n for n in names if job == n or job.startswith(n + "_")), job)


def log_wall(log: Path) -> tuple[float, int]:
    """(seconds from the first to the last timestamp, jobs finished) of a Snakemake log."""
    stamps, done = [], 0
    for line in log.read_text(errors="replace").splitlines():
        m = STAMP.match(line)
        if m:
            stamps.append(datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y"))
        done += line.startswith("Finished jobid")
    return ((stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else float("nan")), done


def main():
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser()
    ap.add_argument("--timing", default="results/timing.csv")
    ap.add_argument("--log", help="Snakemake log of the run (default: the newest in .snakemake/log/)")
    ap.add_argument("--wall", type=float, help="the run's measured wall time in seconds (wins over the log)")
    ap.add_argument("--rules", default=str(root / "workflow" / "rules"))
    a = ap.parse_args()
    timing = Path(a.timing)
    if not timing.is_file():
        sys.exit(f"{timing} not found: it is written when a workflow run succeeds (snakemake --cores 2)")
    df = pd.read_csv(timing)
    df["rule"] = [rule_of(j, rule_names(Path(a.rules))) for j in df["job"]]
    per_rule = (df.groupby("rule").agg(jobs=("s", "size"), total_s=("s", "sum"), max_job_s=("s", "max"),
                                       max_rss_mb=("max_rss_mb", "max"))
                .sort_values("total_s", ascending=False))
    total = per_rule["total_s"].sum()
    per_rule["share"] = per_rule["total_s"] / total
    wall, how = a.wall, "measured"
    if wall is None:
        logs = [Path(a.log)] if a.log else sorted(Path(".snakemake/log").glob("*.snakemake.log"),
                                                  key=lambda p: p.stat().st_mtime)
        if logs:
            wall, n = log_wall(logs[-1])
            how = f"from {logs[-1]} ({n} jobs finished)"
    print(f"run wall time: {wall:.0f} s ({wall / 60:.1f} min), {how}" if wall is not None
          else "run wall time: unknown (pass --wall or --log)")
    print(f"benchmarked jobs: {len(df)}, {total:.0f} s in total (with --cores 2 jobs run side by side: the sum can exceed the wall time)")
    print(per_rule.to_string(formatters={"total_s": "{:.1f}".format, "max_job_s": "{:.1f}".format,
                                         "max_rss_mb": "{:.0f}".format, "share": "{:.1%}".format}))


if __name__ == "__main__":
    main()
