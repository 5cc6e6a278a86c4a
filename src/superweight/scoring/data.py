"""Evaluation text: WikiText-2 / C4 corpora and LAMBADA prompts, from a local data directory
(layout of shared/data, see its README) or, when none is configured, from the Hugging Face Hub."""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
from pathlib import Path

# dataset -> files it needs, relative to the data directory
FILES = {
    "wikitext2": ["wikitext2/wiki.test.raw"],
    "c4": ["c4/c4_validation_2k.parquet"],
    "lambada_openai": ["lambada_openai/lambada_test.jsonl"],
    "arc_easy": ["arc_easy/ARC-Easy-Test.jsonl"],
    "arc_challenge": ["arc_challenge/ARC-Challenge-Test.jsonl"],
    "piqa": ["piqa/valid.jsonl", "piqa/valid-labels.lst"],
    "sciq": ["sciq/test.json"],
    "winogrande": ["winogrande/dev.jsonl"],
    "hellaswag": ["hellaswag/validation/dataset_info.json", "hellaswag/validation/data-00000-of-00001.arrow"],
    "boolq": ["boolq/superglue_boolq/val.jsonl"],
    # text for choices the run makes from data (z: auto, SmoothQuant, detection's confirmation): disjoint from the
    # test split, which the verdicts evaluate
    "wikitext2_validation": [f"wikitext2/wikitext_document_level/wikitext-2-raw-v1/validation/{f}"
                             for f in ("data-00000-of-00001.arrow", "dataset_info.json", "state.json")],
}


class DataError(FileNotFoundError):
    """Missing evaluation data; the message names the fix."""


def resolve_data_dir(configured: str | None) -> Path | None:
    """$SUPERWEIGHT_DATA overrides the config key ``data_dir``; None means: use the Hub."""
    value = os.environ.get("SUPERWEIGHT_DATA") or configured
    return Path(value).expanduser().resolve() if value else None


def job_data_dir(config: dict) -> Path | None:
    """A workflow job's data directory, resolved from its config as the workflow resolves it (resolve_data_dir):
    not a param, since Snakemake reruns a job whose params change, and data at another path must rerun nothing
    (the jobs' `data` param is the data's checksums: superweight.workflow.verify.data_identity)."""
    return resolve_data_dir(config.get("data_dir"))


def check_data(data_dir: Path | None, datasets: list[str]) -> None:
    """Fail before any heavy work if a needed file is missing."""
    if data_dir is None:
        return
    unknown = [d for d in datasets if d not in FILES]
    if unknown:
        raise DataError(f"unknown dataset(s) {unknown}; known: {', '.join(FILES)}")
    missing = [str(data_dir / f) for d in datasets for f in FILES[d] if not (data_dir / f).is_file()]
    if missing:
        raise DataError(
            f"missing evaluation data file(s): {', '.join(missing)}. Fix: set `data_dir` in config (or the environment "
            "variable SUPERWEIGHT_DATA) to a directory laid out like shared/data, or set it to null to read from the Hub."
        )


def data_root(paths: list[str]) -> str | None:
    """The data directory that holds these data files (paths as ``files_of`` gives them); None for no files."""
    for p in paths:
        for rel in (f for fs in FILES.values() for f in fs):
            if p.endswith("/" + rel):
                return p[: -len(rel) - 1]
    return None


def files_of(data_dir: Path | None, datasets: list[str]) -> list[Path]:
    return [] if data_dir is None else [data_dir / f for d in datasets for f in FILES[d]]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksums(data_dir: Path | None, datasets: list[str]) -> dict[str, str]:
    return {str(p.relative_to(data_dir)): sha256(p) for p in files_of(data_dir, datasets)}


# How each perplexity corpus is built and tokenized (stored in the tokenized corpus' provenance)
CONSTRUCTION = {
    "wikitext2": ("GPTQ's WikiText-2 stream: the Hugging Face wikitext-2-raw-v1 test rows (one per line of "
                  "wiki.test.raw, keeping its trailing newline; \"\" for a blank line) joined by \"\\n\\n\", "
                  "tokenized once with the tokenizer's defaults (add_special_tokens=True: one BOS at the very start "
                  "for tokenizers that add one)"),
    "c4": ("GPTQ's C4 stream: the first c4_docs validation documents joined by \" \", tokenized once with the "
           "tokenizer's defaults; the evaluation takes the first windows x seqlen tokens (GPTQ: 256 x 2048)"),
}


def wikitext2_rows(data_dir: Path | None) -> list[str]:
    """The Hugging Face wikitext-2-raw-v1 test rows. Offline they are rebuilt from wiki.test.raw by the HF
    builder's own rule: one row per line, the line *with* its trailing newline, or "" when it is blank."""
    if data_dir is None:
        from datasets import load_dataset

        return list(load_dataset("wikitext", "wikitext-2-raw-v1", split="test")["text"])
    check_data(data_dir, ["wikitext2"])
    with open(data_dir / FILES["wikitext2"][0], encoding="utf-8") as f:
        return [line if line.strip() else "" for line in f]


def wikitext2_text(data_dir: Path | None) -> str:
    """WikiText-2 raw test as GPTQ evaluates it: the HF rows joined by "\\n\\n" (not the raw file read as is)."""
    return "\n\n".join(wikitext2_rows(data_dir))


def wikitext2_validation_rows(data_dir: Path | None) -> list[str]:
    """WikiText-2 raw *validation* as the Hugging Face rows (one per line of wiki.valid.raw, trailing newline kept):
    calibration text disjoint from the test split. Locally rebuilt from the document-level copy (shared/data README:
    " \\n" + "\\n".join(pages) is the raw file)."""
    if data_dir is None:
        from datasets import load_dataset

        return list(load_dataset("wikitext", "wikitext-2-raw-v1", split="validation")["text"])
    from datasets import load_from_disk

    check_data(data_dir, ["wikitext2_validation"])
    pages = load_from_disk(str((data_dir / FILES["wikitext2_validation"][0]).parent))["page"]
    return (" \n" + "\n".join(pages)).splitlines(keepends=True)


def wikitext2_validation_text(data_dir: Path | None) -> str:
    """WikiText-2 raw *validation* as one stream, built as the test stream is (the HF rows joined by "\\n\\n"):
    detection's confirmation text, apart from every evaluated window (those are cut from the test split)."""
    return "\n\n".join(wikitext2_validation_rows(data_dir))


# Which text each corpus name reads (recorded beside every choice made from data, e.g. detection's confirmation)
SPLITS = {
    "wikitext2": "WikiText-2 raw test (the split the WikiText-2 perplexities and mechanism experiments evaluate)",
    "wikitext2_validation": "WikiText-2 raw validation (no verdict evaluates it)",
    "c4": "C4 validation, the first perplexity.c4_docs documents (the ones the C4 perplexities evaluate)",
}


def c4_documents(data_dir: Path | None, n_docs: int | None = None) -> list[str]:
    """C4 validation documents in order (the Hub: shard 0, as GPTQ; offline: the shipped sample), the first
    ``n_docs`` (None = all)."""
    if data_dir is None:
        from datasets import load_dataset

        ds = load_dataset("allenai/c4", data_files={"validation": "en/c4-validation.00000-of-00008.json.gz"},
                          split="validation")
        texts = ds["text"]
    else:
        import pandas as pd

        check_data(data_dir, ["c4"])
        texts = pd.read_parquet(data_dir / FILES["c4"][0], columns=["text"])["text"].tolist()
    return list(texts if n_docs is None else texts[:n_docs])


def c4_text(data_dir: Path | None, n_docs: int = 1100) -> str:
    """C4 validation documents joined by " " (GPTQ: the first 1100 of shard 0)."""
    return " ".join(c4_documents(data_dir, n_docs))


def c4_calibration_documents(data_dir: Path | None, evaluated: int, n: int, seed: int) -> tuple[list[int], list[str]]:
    """Calibration text apart from evaluation: ``n`` C4 documents drawn with ``seed`` from those *after* the first
    ``evaluated`` (the documents the C4 perplexity joins and evaluates), in corpus order: (indices, texts)."""
    docs = c4_documents(data_dir)
    pool = list(range(evaluated, len(docs)))
    if n > len(pool):
        raise ValueError(f"calibration asks for {n} C4 documents but only {len(pool)} follow the {evaluated} evaluated "
                         "ones; lower quantization.activations.calibration.samples (or perplexity.c4_docs)")
    picked = sorted(random.Random(seed).sample(pool, n))
    return picked, [docs[i] for i in picked]


ARTICLE = re.compile(r"^ = [^=].* = \n?$")  # a WikiText article's title row (" = Title = "; sections have "= =")
UNITS = {"wikitext2": "article", "wikitext2_validation": "article", "c4": "document"}


def joined_starts(parts: list[str], sep: str, starts) -> list[int]:
    """Character offsets, in sep.join(parts), of the parts whose index is in ``starts`` (iterable of indices)."""
    pos, out, want = 0, [], set(starts)
    for i, part in enumerate(parts):
        if i in want:
            out.append(pos)
        pos += len(part) + len(sep)
    return out


def corpus_articles(name: str, data_dir: Path | None, c4_docs: int = 1100) -> tuple[str, list[int]]:
    """(corpus_text, character offset of each article's start): WikiText's articles begin at their title rows,
    C4's documents at each document. Windows that share an article are one unit for the intervals."""
    if name == "c4":
        docs = c4_documents(data_dir, c4_docs)
        return " ".join(docs), joined_starts(docs, " ", range(len(docs)))
    rows = wikitext2_rows(data_dir) if name == "wikitext2" else wikitext2_validation_rows(data_dir) \
        if name == "wikitext2_validation" else None
    if rows is None:
        raise ValueError(f"unknown corpus {name!r}; use wikitext2, c4 or wikitext2_validation")
    titles = [i for i, r in enumerate(rows) if ARTICLE.match(r)]
    return "\n\n".join(rows), joined_starts(rows, "\n\n", titles or [0])  # text before the first title: article 0


def corpus_text(name: str, data_dir: Path | None, c4_docs: int = 1100) -> str:
    if name == "wikitext2":
        return wikitext2_text(data_dir)
    if name == "c4":
        return c4_text(data_dir, c4_docs)
    if name == "wikitext2_validation":
        return wikitext2_validation_text(data_dir)
    raise ValueError(f"unknown corpus {name!r}; use wikitext2, c4 or wikitext2_validation")


def lambada_texts(data_dir: Path | None, n: int | None = None) -> list[str]:
    """LAMBADA (OpenAI) test texts, in file order."""
    if data_dir is None:
        from datasets import load_dataset

        texts = load_dataset("EleutherAI/lambada_openai", "default", split="test")["text"]
    else:
        check_data(data_dir, ["lambada_openai"])
        with open(data_dir / FILES["lambada_openai"][0], encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()]
    return list(texts[:n] if n else texts)
