"""Data verified before use: every data file a run reads is checked against the checksums of the shipped data
(``data_checksums.sha256``, the values of shared/data's MANIFEST.sha256), before any model job.

A changed, truncated, replaced or empty file is one line naming the file and what to do. A data directory of the
user's own is declared with ``data_checksums: record``: its files are then checked for shape only (present,
non-empty, JSON lines that parse, a parquet footer) and their checksums recorded, not compared.

Hashing the ~25 MB of the shipped data takes about 0.02 s (0.06 s with the shape checks), but the workflow parses
the Snakefile for every job and a user's own data may be larger, so results are cached per file in a small JSON file
the caller names (a writable place: never the data directory, which may be read-only). What the cache trusts: a file
whose size, modification time, inode change time (ctime), inode and device are all as when it was hashed holds the
bytes it held then. The kernel sets ctime on every write and every metadata change (``touch -d``, ``os.utime`` and
``cp -p`` included) and no ordinary tool can set it back, so an edit with its mtime restored is hashed again; a file
replaced by another (``mv``, a restored copy) has another inode. Not trusted to survive: root changing the clock, or
an edit within the same clock tick (milliseconds on kernels without fine-grained timestamps) as the file's previous
change, the one the cache saw.

``data_identity`` is what jobs depend on (their ``data`` param): the checksums of the files they read and how the
corpora are built, not the directory's path, so the same data at another path reruns nothing and changed data reruns
the jobs that read it. Imports only the standard library (the submit host checks the config).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from superweight.scoring.data import CONSTRUCTION, FILES, DataError, sha256

MODES = ("compare", "record")
SHIPPED = Path(__file__).with_name("data_checksums.sha256")
_FIX_SHIPPED = ("Fix: restore it from the shipped data (shared/data; `sha256sum -c MANIFEST.sha256` there lists what "
                "changed), or, if this is your own data on purpose, set `data_checksums: record` in config")


def shipped_checksums(path: Path = SHIPPED) -> dict[str, str]:
    """{relative path: sha256} of the shipped data files."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, rel = line.split(maxsplit=1)
            out[rel.strip()] = digest
    return out


def _text(row, *keys) -> str | None:
    bad = [k for k in keys if not isinstance(row.get(k), str)]
    return f"no text in {', '.join(repr(k) for k in bad)}" if bad else None


def _arc(row) -> str | None:
    labels = [c.get("label") for c in (row.get("question") or {}).get("choices") or [] if isinstance(c, dict)]
    return None if row.get("answerKey") in labels else f"answerKey {row.get('answerKey')!r} is none of {labels}"


def _winogrande(row) -> str | None:
    if row.get("answer") not in ("1", "2"):
        return f"answer {row.get('answer')!r} is not \"1\" or \"2\""
    problem = _text(row, "sentence", "option1", "option2")
    return problem or (None if "_" in row["sentence"] else "the sentence has no _ to fill")


# the fields each task's scoring reads, by file: a damaged answer or label (own data under `data_checksums: record`)
# would otherwise fail only in the scoring job, after its model had loaded
ROWS = {
    "arc_easy/ARC-Easy-Test.jsonl": _arc,
    "arc_challenge/ARC-Challenge-Test.jsonl": _arc,
    "winogrande/dev.jsonl": _winogrande,
    "boolq/superglue_boolq/val.jsonl": lambda r: _text(r, "question", "passage") or (
        None if r.get("label") in (True, False) else f"label {r.get('label')!r} is not true or false"),
    "piqa/valid.jsonl": lambda r: _text(r, "goal", "sol1", "sol2"),
    "lambada_openai/lambada_test.jsonl": lambda r: _text(r, "text") or (
        None if " " in r["text"].strip() else "the text has no last word to predict"),
    "sciq/test.json": lambda r: _text(r, "question", "support", "correct_answer", "distractor1", "distractor2",
                                      "distractor3"),
}


def _rows_problem(path: Path, rows) -> str | None:
    """The first row whose scored fields are missing or out of range (ROWS), or None."""
    check = next((c for rel, c in ROWS.items() if path.as_posix().endswith("/" + rel)), None)
    for i, row in rows if check else ():
        problem = check(row) if isinstance(row, dict) else "is not a JSON object"
        if problem:
            return f"{i}: {problem} (an edited file?)"
    return None


def _shape_problem(path: Path) -> str | None:
    """Why the file cannot be what its name says (truncated, empty, not JSON, a task's answer or label out of range),
    or None. Reads the file once."""
    size = path.stat().st_size
    if size == 0:
        return "is empty"
    name = path.name
    if name.endswith(".jsonl"):
        rows = []
        with open(path, "rb") as f:
            for i, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append((i, json.loads(line)))
                    except ValueError:
                        return f"line {i} is not JSON (a truncated or edited file?)"
        problem = _rows_problem(path, rows)
        return f"line {problem}" if problem else None
    elif name.endswith(".json"):
        try:
            value = json.loads(path.read_bytes())
        except ValueError as e:
            return f"is not valid JSON ({str(e).splitlines()[0]}; a truncated or edited file?)"
        problem = _rows_problem(path, list(enumerate(value, 1)) if isinstance(value, list) else [(1, value)])
        return f"entry {problem}" if problem else None
    elif name.endswith(".lst"):
        with open(path, "rb") as f:
            for i, line in enumerate(f, 1):
                label = line.strip()
                if label and label not in (b"0", b"1"):
                    return f"line {i}: label {label[:20].decode(errors='replace')!r} is not 0 or 1 (an edited file?)"
    elif name.endswith(".parquet"):
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(max(0, size - 4))
            tail = f.read(4)
        if head != b"PAR1" or tail != b"PAR1":
            return "is not a complete parquet file (no PAR1 footer: truncated?)"
    return None


def stamp(path: Path) -> list[int]:
    """What the cache compares: size, mtime, ctime (set by the kernel on any change, mtime restores included),
    inode and device (another file at the same path)."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class Verifier:
    """Checks data files, caching each good file's checksum by its path and stamp (``stamp``) in ``cache`` (a JSON
    file)."""

    def __init__(self, cache: str | Path | None = None):
        self.cache_path = Path(cache) if cache else None
        self.cache: dict = {}
        if self.cache_path and self.cache_path.is_file():
            try:
                self.cache = json.loads(self.cache_path.read_text())
            except (OSError, ValueError):
                self.cache = {}  # a damaged cache is only a cache
        self.dirty = False

    def checksum(self, path: Path) -> str:
        """The file's sha256, after checking its shape (cached while its stamp is unchanged)."""
        key, st = str(path.resolve()), stamp(path)
        hit = self.cache.get(key)
        if hit and hit[:-1] == st:
            return hit[-1]
        problem = _shape_problem(path)
        if problem:
            raise DataError(f"data file {path} {problem}. Fix: copy the file again (shared/data has the shipped one; "
                            "`sha256sum -c MANIFEST.sha256` there checks it) or repair your own data")
        digest = sha256(path)
        self.cache[key] = [*st, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if not (self.cache_path and self.dirty):
            return
        try:  # an unwritable place costs only the cache
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.cache))
            tmp.replace(self.cache_path)
        except OSError:
            pass


def verify_data(data_dir: Path | None, datasets: list[str], mode: str = "compare",
                cache: str | Path | None = None) -> dict[str, str]:
    """{relative path: sha256} of the datasets' files; raise DataError (one line: the file and the fix) when one is
    missing, empty, malformed, or (mode ``compare``) differs from the shipped data. None (the Hub): nothing to check."""
    if data_dir is None:
        return {}
    if mode not in MODES:
        raise DataError(f"`data_checksums` is {mode!r}; use one of {', '.join(MODES)}")
    unknown = [d for d in datasets if d not in FILES]
    if unknown:
        raise DataError(f"unknown dataset(s) {unknown}; known: {', '.join(FILES)}")
    rels = list(dict.fromkeys(f for d in datasets for f in FILES[d]))
    missing = [str(data_dir / f) for f in rels if not (data_dir / f).is_file()]
    if missing:
        raise DataError(
            f"missing evaluation data file(s): {', '.join(missing)}. Fix: set `data_dir` in config (or the environment "
            "variable SUPERWEIGHT_DATA) to a directory laid out like shared/data, or set it to null to read from the Hub."
        )
    known = shipped_checksums() if mode == "compare" else {}
    v = Verifier(cache)
    out = {}
    try:
        for rel in rels:
            path = data_dir / rel
            digest = v.checksum(path)
            want = known.get(rel)
            if want is not None and digest != want:
                raise DataError(f"data file {path} differs from the shipped data (sha256 {digest[:12]}..., expected "
                                f"{want[:12]}...; {path.stat().st_size:,} bytes: changed, truncated or replaced). "
                                + _FIX_SHIPPED)
            out[rel] = digest
    finally:
        v.save()
    return out


def data_identity(data_dir: Path | None, datasets: list[str], mode: str = "compare",
                  cache: str | Path | None = None) -> dict:
    """What a job reading ``datasets`` depends on (its ``data`` param): the checksums of their files (verified as
    ``verify_data`` does) and how each perplexity corpus is built from them (CONSTRUCTION); the Hub when there is no
    data directory. Never the directory's path: the same data elsewhere is the same identity."""
    names = sorted({d for d in datasets if d})
    files = "the Hugging Face Hub" if data_dir is None else dict(sorted(verify_data(data_dir, names, mode,
                                                                                      cache).items()))
    return {"files": files, "construction": {d: CONSTRUCTION[d] for d in names if d in CONSTRUCTION}}
