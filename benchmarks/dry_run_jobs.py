"""The jobs `snakemake -n --forceall` plans for each shipped scenario, saved and compared: a change to the workflow's
plumbing (how rules are defined, how targets and paths are built) must plan the same jobs with the same inputs,
outputs, logs, wildcards, threads and resource requests.

    python benchmarks/dry_run_jobs.py save DIR      # before the change
    python benchmarks/dry_run_jobs.py compare DIR   # after: prints every difference, exits 1 on any

Scenarios: the default config, config/paper.yaml, config/families.yaml, config/emergence.yaml and every .test/
config. Runs offline; the data directory is $SUPERWEIGHT_DATA (as the workflow reads it).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("input", "output", "log", "benchmark", "wildcards", "threads", "resources")
_RULE = re.compile(r"^(?:local)?rule (\S+):$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")


def scenarios() -> dict[str, list[str]]:
    out = {"default": []}
    for p in ["config/paper.yaml", "config/families.yaml", "config/emergence.yaml", *sorted(
            str(q.relative_to(ROOT)) for q in (ROOT / ".test").glob("*.yaml"))]:
        out[Path(p).stem if p.startswith("config/") else "test_" + Path(p).stem] = ["--configfile", p]
    return out


def parse(text: str) -> list[dict]:
    """Each `rule NAME:` block of a dry run as {rule, field: value}; volatile fields (jobid, reason, the tmpdir
    resource) dropped; the list sorted so that job order does not matter."""
    jobs, cur = [], None
    for line in text.splitlines():
        if m := _RULE.match(line):
            cur = {"rule": m.group(1)}
            jobs.append(cur)
        elif cur is not None and (m := _FIELD.match(line)):
            key, value = m.groups()
            if key in FIELDS:
                if key == "resources":
                    value = ", ".join(v for v in value.split(", ") if not v.startswith("tmpdir="))
                cur[key] = value
        elif line and not line.startswith((" ", "\t")):
            cur = None
    return sorted(jobs, key=lambda j: json.dumps(j, sort_keys=True))


def dry_run(args: list[str]) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(["snakemake", "-n", "--forceall", "--cores", "2", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"snakemake -n {' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return parse(proc.stdout + proc.stderr)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("save", "compare"):
        sys.exit(__doc__)
    mode, folder = argv[0], Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    differ = 0
    for name, args in scenarios().items():
        jobs = dry_run(args)
        path = folder / f"{name}.json"
        if mode == "save":
            path.write_text(json.dumps(jobs, indent=1))
            print(f"{name}: {len(jobs)} jobs saved to {path}")
            continue
        before = json.loads(path.read_text())
        b = {json.dumps(j, sort_keys=True) for j in before}
        a = {json.dumps(j, sort_keys=True) for j in jobs}
        print(f"{name}: {len(before)} jobs before, {len(jobs)} after, {len(b - a)} gone, {len(a - b)} new")
        for j in sorted(b - a)[:10]:
            print("  - before only:", j)
        for j in sorted(a - b)[:10]:
            print("  + after only: ", j)
        differ += len(a ^ b)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
