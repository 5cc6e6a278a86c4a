"""What produced a result: package versions, the config values that shaped it, data checksums, time."""
from __future__ import annotations

import importlib.metadata
import json
import math
import platform
import subprocess
import time
from pathlib import Path

PACKAGES = ("superweight", "torch", "transformers", "lm_eval", "gguf", "datasets", "numpy", "pandas")


def package_versions(packages) -> dict[str, str | None]:
    """Installed version of each package (None where it is missing), read from metadata without importing it."""
    out = {}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def versions() -> dict[str, str | None]:
    return {"python": platform.python_version(), **package_versions(PACKAGES)}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except Exception:
        return None


class Provenance:
    """Start a clock; ``record()`` returns the provenance block to store beside a result."""

    def __init__(self, model: str | None = None, condition: str | None = None, config: dict | None = None,
                 data: dict[str, str] | None = None):
        self.start = time.time()
        self.info = {"model": model, "condition": condition, "config": config or {}, "data_sha256": data or {}}

    def record(self, **extra) -> dict:
        return {**self.info, **extra, "versions": versions(), "git_commit": git_commit(),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_s": round(time.time() - self.start, 2)}


def json_clean(x):
    """JSON without NaN/Infinity: non-finite floats become the strings 'inf', '-inf', 'nan'; numpy scalars become
    Python numbers (checked by module name: this module imports no numpy)."""
    if type(x).__module__ == "numpy" and hasattr(x, "item") and getattr(x, "ndim", 1) == 0:
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_clean(v) for v in x]
    return x





def write_json(path, obj) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(json_clean(obj), indent=2, allow_nan=False) + "\n")


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def as_float(x) -> float:
    """Read back a number written by write_json ('inf' strings included)."""
    return float(x) if x is not None else math.nan


def summarize_benchmarks(results_dir, out_csv) -> int:
    """results/timing.csv: every job's Snakemake benchmark (seconds, max RSS), one row per job: the model jobs'
    (results/{model}/benchmarks/) and the rendering jobs' (results/benchmarks/, model "-")."""
    import pandas as pd

    root = Path(results_dir)
    rows = []
    for f in sorted(root.glob("*/benchmarks/*.tsv")) + sorted(root.glob("benchmarks/*.tsv")):
        d = pd.read_csv(f, sep="\t")
        if d.empty:
            continue
        model = "-" if f.parent.parent == root else f.parent.parent.name
        rows.append({"model": model, "job": f.stem, "s": float(d["s"].iloc[-1]),
                     "max_rss_mb": float(d["max_rss"].iloc[-1]) if "max_rss" in d else None})
    if rows:
        pd.DataFrame(rows).sort_values(["model", "job"]).to_csv(out_csv, index=False)
    return len(rows)


def result_record(model: str, prov: "Provenance", reason: str | None = None, **fields) -> dict:
    """The record every experiment's result file holds, built here only: {"model", "status": "done", or "skipped"
    with the ``reason`` (one wording per reason, e.g. detect.used.NONE_USED), the result's fields, "provenance"}."""
    return {"model": model, "status": "skipped" if reason else "done", **({"reason": reason} if reason else {}),
            **fields, "provenance": prov.record()}
