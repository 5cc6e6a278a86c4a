"""Compare two results/ trees number by number: every number in every JSON / CSV / TSV must be equal (float
equality), ignoring what is not a result (times, paths, versions, commits, logs, benchmarks). Usage:
    python benchmarks/compare_results.py RESULTS_A RESULTS_B"""
import csv
import json
import math
import sys
from pathlib import Path

A, B = Path(sys.argv[1]), Path(sys.argv[2])
SKIP_KEYS = {"time", "started", "finished", "seconds", "elapsed", "wall_s", "commit", "versions", "python", "host",
             "path", "paths", "cwd", "created", "date", "duration", "runtime", "git", "platform", "package_versions",
             "provenance", "log", "peak_rss_mb", "rss_mb", "s", "mem_mb"}
SKIP_DIRS = {"logs", "benchmarks", "model"}
diffs, n_num, n_files = [], 0, 0

def walk(a, b, where):
    global n_num
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            if k in SKIP_KEYS: continue
            if k not in a or k not in b:
                diffs.append(f"{where}.{k}: only in {'B' if k not in a else 'A'}"); continue
            walk(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{where}: length {len(a)} vs {len(b)}"); return
        for i, (x, y) in enumerate(zip(a, b)): walk(x, y, f"{where}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        n_num += 1
        if not (a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))):
            diffs.append(f"{where}: {a!r} vs {b!r}")
    elif a != b and not (isinstance(a, str) and isinstance(b, str) and ("/" in a or ":" in a)):
        diffs.append(f"{where}: {str(a)[:60]!r} vs {str(b)[:60]!r}")

for pa in sorted(A.rglob("*")):
    rel = pa.relative_to(A)
    if not pa.is_file() or SKIP_DIRS & set(rel.parts) or pa.suffix not in {".json", ".csv", ".tsv"}: continue
    pb = B / rel
    if not pb.exists():
        diffs.append(f"{rel}: missing in B"); continue
    n_files += 1
    if pa.suffix == ".json":
        walk(json.loads(pa.read_text()), json.loads(pb.read_text()), str(rel))
    else:
        d = "\t" if pa.suffix == ".tsv" else ","
        ra, rb = list(csv.reader(pa.open(), delimiter=d)), list(csv.reader(pb.open(), delimiter=d))
        def conv(v):
            try: return float(v)
            except ValueError: return v
        walk([[conv(v) for v in r] for r in ra], [[conv(v) for v in r] for r in rb], str(rel))
print(f"{n_files} files, {n_num} numbers compared; {len(diffs)} differences")
for d in diffs[:80]: print("  ", d)
