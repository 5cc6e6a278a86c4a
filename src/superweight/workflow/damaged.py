"""Damaged results found before any job runs (issue 38): every result file under ``results/`` that a later rule or
a user reads (JSON, CSV, tensors saved by torch) is checked cheaply at the workflow's start: it parses and has the
fields its readers need. A truncated ``super_weights.json`` left in a finished run would otherwise be read by every
job planned after it (its new modification time makes Snakemake plan them all): each fails with a bare
``JSONDecodeError``, and Snakemake deletes their finished outputs first while the damaged file itself is never
rebuilt. A damaged file is named in one line with the fix (delete it; Snakemake then rebuilds it and what is made
from it), and no job runs.

A file Snakemake itself marks incomplete (a job killed while writing it, kept under ``.snakemake/incomplete/``) is
not reported: Snakemake redoes its job (``--rerun-incomplete``, in both profiles) or says so itself. Of the prepared
model, ``config.json`` and the ``.safetensors`` files are checked (each file's size against its header, without
reading the weights). Logs, benchmarks and the task files are not read.
Imports only the standard library (the submit host checks results without torch)."""
from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import zipfile
from base64 import urlsafe_b64decode
from pathlib import Path

from superweight import paths

SKIPPED_DIRS = ("logs", "benchmarks", "tasks")  # directly under results/ or results/<model>/
SUFFIXES = (".json", ".csv", ".pt", ".safetensors")

# (pattern under results/, the rule that writes it, top-level keys its readers index: those they read with a
# default are not required); the first match is used
KINDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("*/model/config.json", "prepare_model", ()),
    ("*/model/*.safetensors", "prepare_model", ()),
    ("*/detect/super_weights.json", "detect", ("super_weights", "used")),  # detect.used.used_super_weights
    ("*/detect/*.csv", "detect", ()),
    # report.tables; a finished one (`status: done`) also needs its `scores`. superweight.paths' globs: fnmatch's '*'
    # crosses '/', so the wquant glob takes the restored results (.../sw_x*/) too, at the same stage
    (f"*/{paths.glob('ablation')}", "score", ("model",)),
    (f"*/{paths.glob('scaling')}", "score_scaled or reuse_scaled", ("model",)),
    (f"*/{paths.glob('wquant')}", "score_wquant, score_wquant_restored or score_wquant_sweep", ("model",)),
    (f"*/{paths.glob('aquant')}", "score_aquant or reuse_aquant_fp", ("model",)),
    (f"*/{paths.glob('z')}", "tune_z", ("z",)),  # helpers/quantize.smk wquant_spec
    ("*/aquant/calibration.*", "smoothquant_calibration", ()),
    ("*/corpora/*", "tokenize_corpus", ()),
    ("*/mechanism/*.json", "mechanism_{exp}", ()),  # {exp}: the file's experiment (hadamard_channels: hadamard)
    ("*/mechanism/*.csv", "mechanism_{exp}", ()),
    ("*/stopwords/summary.json", "stopwords", ()),
    ("*/stopwords/*.csv", "stopwords", ()),
    ("*/propagation/*.csv", "propagation", ()),
    ("emergence/*/reference.json", "emergence_reference", ("revision",)),  # analysis.emergence
    ("emergence/*/steps/*.json", "emergence_step", ("revision",)),
    ("emergence/*/emergence.json", "emergence", ()),
    ("protocol.json", "protocol", ()),
    ("claims.json", "claims", ()),
    ("claims.csv", "claims", ()),
    ("reproduction.json", "reproduction", ("models",)),  # report.reproduce_render (claims_html, the tables)
    ("reproduction.csv", "reproduction", ()),
]


def kind_of(rel: str) -> tuple[str, tuple[str, ...]] | None:
    """(the rule that writes it, the keys it must have) for a path relative to results/, or None: not checked."""
    for pattern, rule, keys in KINDS:
        if fnmatch.fnmatchcase(rel, pattern):
            return rule.format(exp=Path(rel).stem.split("_")[0]), keys
    return None


def _stage(rel: str) -> int:
    """The file's place in KINDS (upstream first: detection before the scores made from it)."""
    return next(i for i, (pattern, _, _) in enumerate(KINDS) if fnmatch.fnmatchcase(rel, pattern))


def problem(path: str | Path, keys: tuple[str, ...] = ()) -> str | None:
    """Why the file cannot be read as its name says (empty, truncated, not JSON, a field missing), or None."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return _safetensors_problem(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"cannot be read: {e.strerror}"
    if not data:
        return "it is empty"
    if path.suffix == ".json":
        try:
            value = json.loads(data)
        except ValueError as e:
            return f"not valid JSON: {str(e).splitlines()[0]}; truncated?"
        if not isinstance(value, dict):
            return f"a JSON {type(value).__name__}, not an object"
        missing = [k for k in keys if k not in value]
        if not missing and path.name == paths.FILE and value.get("status") == "done" and "scores" not in value:
            missing = ["scores"]  # a scored experiment's numbers
        if missing:
            return f"no {', '.join(f'`{k}`' for k in missing)}"
    elif path.suffix == ".csv":
        try:
            rows = list(csv.reader(io.StringIO(data.decode())))
        except (UnicodeDecodeError, csv.Error) as e:
            return f"not a CSV file: {e}"
        widths = {len(r) for r in rows if r}
        if len(widths) > 1 or not data.endswith(b"\n"):
            return "its last row is cut short; truncated?"
    elif path.suffix == ".pt":
        # torch.save writes a zip archive; one cut short has no central directory at its end
        if not data.startswith(b"PK") or not zipfile.is_zipfile(io.BytesIO(data)):
            return "not a complete torch file; truncated?"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file is an 8-byte header length, a JSON header giving each tensor's byte range, then the
    bytes: its size must be what the header says (the weights are not read)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if size < 8 or 8 + n > size:
                return f"its header is cut short ({size:,} bytes); truncated?"
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except OSError as e:
        return f"cannot be read: {e.strerror}"
    except (ValueError, KeyError, TypeError, IndexError):
        return "its header is not a safetensors header"
    if size != 8 + n + end:
        return f"{size:,} bytes, but its header says {8 + n + end:,}; truncated?"
    return None


def incomplete(workdir: str | Path = ".") -> set[str]:
    """The files Snakemake marks incomplete (``.snakemake/incomplete/``: a job that did not finish writing them), as
    absolute paths (Snakemake names them relative to its working directory, ``workdir``)."""
    root = Path(workdir) / ".snakemake" / "incomplete"
    out = set()
    if not root.is_dir():
        return out
    for dirpath, _, files in os.walk(root):
        for f in files:
            rel = Path(dirpath, f).relative_to(root).parts
            b64 = "".join(p[1:] if p.startswith("@") else p for p in rel)
            try:
                out.add(os.path.abspath(os.path.join(workdir, urlsafe_b64decode(b64.encode()).decode())))
            except (ValueError, UnicodeDecodeError):
                continue  # Snakemake's own bookkeeping (migration_underway)
    return out


def results_read(results: str | Path, models: list[str]) -> list[Path]:
    """The result files the check reads: under results/ (this run's models only), skipping logs, benchmarks and the
    task files."""
    root = Path(results)
    if not root.is_dir():
        return []
    out = []
    for dirpath, dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        if len(rel) == 0:
            dirs[:] = [d for d in dirs if d in models or d == "emergence"]
        elif len(rel) == 1 and rel[0] in models:
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        dirs.sort()
        out += [Path(dirpath, f) for f in sorted(files) if f.endswith(SUFFIXES)]
    return out


def damaged(results: str | Path, models: list[str], workdir: str | Path = ".") -> list[tuple[str, str, str]]:
    """Every damaged result under ``results`` as (path as given under results, why, the rule that rebuilds it),
    upstream first (as KINDS lists them), leaving out what Snakemake marks incomplete."""
    root = Path(results)
    skip = incomplete(workdir)
    out = []
    for path in results_read(root, models):
        rel = path.relative_to(root).as_posix()
        kind = kind_of(rel)
        shown = (Path(results) / rel).as_posix()
        where = os.path.abspath(path)
        if kind is None or any(p in skip for p in (where, *map(str, Path(where).parents))):  # or its directory
            continue
        why = problem(path, kind[1])
        if why:
            out.append((_stage(rel), shown, why, kind[0]))
    return [found[1:] for found in sorted(out, key=lambda f: f[0])]


class DamagedResult(ValueError):
    """A damaged result found at start; the message is one line with the fix."""


def check_results(results: str | Path, models: list[str], workdir: str | Path = ".") -> None:
    """Raise DamagedResult naming the first damaged result (and how many more) and the fix."""
    found = damaged(results, models, workdir)
    if not found:
        return
    path, why, rule = found[0]
    more = ""
    if len(found) > 1:
        rest = [p for p, _, _ in found[1:]]
        more = (f"; {len(rest)} more damaged: {', '.join(rest[:5])}{' ...' if len(rest) > 5 else ''} (delete them "
                "too)")
    raise DamagedResult(f"{path} is damaged ({why}), so every job reading it would fail; nothing was run{more}. Fix: "
                        f"delete it and rerun: Snakemake rebuilds it (rule {rule}) and the results made from it")
