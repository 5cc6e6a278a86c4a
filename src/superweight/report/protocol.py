"""The paper's protocol in one table, and the per-run deviation report built from it.

Every key of the config schema is classified (the rows: report.protocol_rows; ``classify``; tests/test_protocol.py
walks the schema and fails on a key that is not), as one of:

- ``paper``: the value the paper states, with the table, figure or section it comes from;
- ``official code``: the paper is silent and its official code (github mengxiayu/LLMSuperWeight @ 232e4eeb, or the
  code of a method it cites, e.g. SmoothQuant) made the choice: file and line;
- ``interpretation``: the paper is silent or ambiguous and this project chose: what and why;
- ``addition``: no counterpart in the paper or its code (confirmation, joint mode, claims, intervals, ...);
- ``no effect on numbers``: presentation, paths, resources (``NO_EFFECT``).

The first four are ``Setting`` rows with a reference value: the paper's, the official code's, or the value the
project reads the paper as (config/paper.yaml sets every row to it: tests/test_protocol.py checks it after merging
paper.yaml over config/config.yaml as Snakemake does). A run's value that differs from a paper, official or
interpretation reference is a listed difference; additions are listed beside paper.yaml's value. The report says
"equals the paper" only of ``paper`` rows. Choices the config cannot change are the rows of report.fixed_choices,
each with whose choice it is. This module reads only the config and the detection summaries: no torch, so the report
is instant.
To add a key: add it to the schema, then one ``Setting`` to protocol_rows' ``SETTINGS`` (or a reason to
``NO_EFFECT``).
"""
from __future__ import annotations

import json
from typing import Any

from superweight.provenance import package_versions
from superweight.report import fixed_choices
from superweight.report.protocol_rows import (  # noqa: F401 (the rows, re-exported for the page's readers)
    ADDITION, CLASSES, CODE_ONLY, INTERPRETATION, NO_EFFECT, NO_EFFECT_CLASS, NO_PAPER_VALUE, NOT_SET, OFFICIAL,
    OFFICIAL_CODE, PAPER, SETTINGS, TABLE2, TASKS, Setting, lookup)


def _norm(v):
    """For comparison: numbers as floats, lists as sorted multisets (a sweep's order does not matter)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return sorted((_norm(x) for x in v), key=repr)
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


# --- classification of the schema's keys ---------------------------------------------------------------------

def schema_keys(schema: dict) -> list[str]:
    """Every leaf key of the config schema, dotted; a model's keys as ``models.*.x``. A leaf is a node without
    ``properties`` (a mapping given by ``additionalProperties`` only, e.g. plots.colors, is one key)."""
    out: list[str] = []

    def walk(node: dict, prefix: list[str]):
        props = node.get("properties")
        if props:
            for k, v in props.items():
                walk(v, prefix + [k])
        elif prefix == ["models"]:
            walk(node["additionalProperties"], prefix + ["*"])
        else:
            out.append(".".join(prefix))

    walk(schema, [])
    return out


def classify(key: str) -> str | None:
    """The class of a schema key (``CLASSES``), or None when it is not classified."""
    for s in SETTINGS:
        if s.key == key:
            return s.kind
    return NO_EFFECT_CLASS if key in NO_EFFECT else None


def unclassified(schema: dict) -> list[str]:
    """Schema keys this module does not classify: each must get a ``Setting`` or a ``NO_EFFECT`` reason."""
    return [k for k in schema_keys(schema) if classify(k) is None]


def run_models(cfg: dict) -> list[str]:
    chosen = cfg.get("run_models")
    return list(chosen) if chosen is not None else list(cfg.get("models", {}))


def _expand(cfg: dict, key: str) -> list[tuple[str, Any]]:
    """(key, value) pairs of a key for this run: "models.*.x" once per run model."""
    if key.startswith("models.*."):
        rest = key[len("models.*."):]
        return [(f"models.{m}.{rest}", lookup(cfg, f"models.{m}.{rest}")) for m in run_models(cfg)]
    return [(key, lookup(cfg, key))]


_SAME = {PAPER: "same", OFFICIAL_CODE: "official code", INTERPRETATION: "interpretation", ADDITION: "addition"}


def compare(cfg: dict) -> list[dict]:
    """One row per setting (per run model for model settings): this run's value, the reference, the class, the
    status: ``same`` (a paper row equal to the paper), ``official code`` / ``interpretation`` (equal to that
    reference), ``addition``, ``differs`` (a paper, official or interpretation row away from its reference),
    ``not set``."""
    rows = []
    for s in SETTINGS:
        for key, raw in _expand(cfg, s.key):
            if raw is NOT_SET and s.optional:
                continue
            value = raw if raw is NOT_SET or s.resolve is None else s.resolve(cfg, raw)
            has_ref = s.paper is not NO_PAPER_VALUE
            code = s.code_only(cfg, key) if s.code_only else None
            kind, source = (OFFICIAL_CODE, code) if code else (s.kind, s.source)
            if raw is NOT_SET:
                status = "not set"
            elif kind == ADDITION or not has_ref:  # an addition is never a difference from the paper
                status = _SAME[kind]
            else:
                equal = s.same(cfg, key, value) if s.same else _norm(value) == _norm(s.paper)
                status = _SAME[kind] if equal else "differs"
            rows.append({"key": key, "value": None if raw is NOT_SET else value,
                         "paper": s.paper if has_ref else None, "has_paper_value": has_ref, "class": kind,
                         "status": status, "source": source, "note": s.note, "official_option": s.official or None})
    return rows


def facts(cfg: dict, data_dir: str | bool | None) -> list[dict]:
    """Fixed facts of the data and the environment that no setting changes (shared/data/README.md). ``data_dir``:
    the local data directory, or whether there is one (the workflow says only that: its path reruns nothing)."""
    local = bool(data_dir)
    out = [
        {"fact": "WikiText-2 test", "status": "same",
         "note": ("rebuilt from wiki.test.raw (byte-identical to the official file) into the Hugging Face rows, "
                  "joined by \"\\n\\n\" as GPTQ") if local else "the Hugging Face wikitext-2-raw-v1 test rows, "
                                                                 "joined by \"\\n\\n\" as GPTQ"},
        {"fact": "C4 validation", "status": "differs" if local else "same",
         "note": ("the shipped c4_validation_2k.parquet is a 2,000-document sample of C4-en of unverified split and "
                  "order (shared/data/README.md): its first documents are not GPTQ's first 1100 of validation shard "
                  "0, so C4 perplexity approximates the paper's, not number for number") if local else
                 "validation shard 0 from the Hugging Face Hub, as GPTQ"},
        {"fact": "zero-shot tasks", "status": "same",
         "note": ("offline copies of lm-eval's built-in tasks (same prompts, splits and metrics, tested to render "
                  "identically), zero-shot, metric acc") if local else "lm-eval's built-in tasks, zero-shot, metric acc"},
        {"fact": "tokenizer", "status": "may differ",
         "note": "the model's default (fast) tokenizer; GPTQ's datautils load use_fast=False, which can split some "
                 "texts differently for SentencePiece models"},
    ]
    if lookup(cfg, "quantization.weights.z") == "auto":
        out.append({"fact": "z calibration text", "status": "differs",
                    "note": "500 examples of WikiText-2 *validation* (checked disjoint from every evaluation corpus); "
                            "the paper used WikiText-2 train, which no public copy here supplies"})
    cal = lookup(cfg, "quantization.activations.calibration")
    methods = lookup(cfg, "quantization.activations.methods")
    if isinstance(cal, dict) and (methods is NOT_SET or "smoothquant" in methods):
        out.append({"fact": "SmoothQuant calibration text", "status": "differs",
                    "note": (f"{cal.get('samples')} samples of at most {cal.get('seqlen')} tokens from "
                             + ("the C4 validation documents after the evaluated ones (perplexity.c4_docs)"
                                if cal.get("corpus") == "c4" else "WikiText-2 validation")
                             + ", none in an evaluated window (checked, an error otherwise); SmoothQuant calibrates "
                               "on 512 x 512 tokens of the Pile validation set, which no copy here supplies")})
    out.append({"fact": "lm-eval version", "status": "differs",
                "note": "the project pins lm-eval 0.4.13 (each score's provenance records the version it ran); the "
                        "paper used ~0.4.3. The one request-level change known to move results, the BOS token, is "
                        "set by eval.add_bos_token"})
    return out


VERSION_PACKAGES = ("torch", "transformers", "lm_eval", "snakemake", "datasets")
PAPER_VERSIONS = {"lm_eval": "~0.4.3 (July 2024)", "torch": "not stated (the official code has no requirements file)",
                  "transformers": "not stated (the official code has no requirements file)"}


def installed_versions() -> dict[str, str | None]:
    """Versions installed where this report is written (no import: torch stays unloaded)."""
    return package_versions(VERSION_PACKAGES)


def versions(detections: dict | None, installed: dict | None = None) -> list[dict]:
    """Library versions: those the model jobs ran with (detection's provenance, per model) where known, else the
    ones installed where the report is written; the paper's where it says."""
    installed = installed if installed is not None else installed_versions()
    ran = {}
    for m, d in (detections or {}).items():
        for p, v in ((d or {}).get("provenance", {}).get("versions") or {}).items():
            ran.setdefault(p, {}).setdefault(v, []).append(m)
    rows = []
    for p in VERSION_PACKAGES:
        if p in ran:
            used = "; ".join(f"{v} ({', '.join(ms)})" for v, ms in ran[p].items())
            where = "model jobs (detection provenance)"
        else:
            used, where = installed.get(p), "installed where this report was written"
        rows.append({"package": p, "version": used, "from": where, "paper": PAPER_VERSIONS.get(p, "not stated")})
    return rows


def detection_outcomes(cfg: dict, detections: dict | None) -> list[dict]:
    """Per model: how detection's loop stopped; ``cap_reached`` when it stopped at detection.max_iters with
    spikes left (candidates beyond the cap were never searched)."""
    out = []
    for m, d in (detections or {}).items():
        if not d:
            continue
        stopped = d.get("stopped")
        cap = d.get("max_iters", lookup(cfg, "detection.max_iters"))
        rounds = d.get("rounds", len({c.get("iteration") for c in d.get("candidates", [])}))
        out.append({"model": m, "stopped": stopped, "max_iters": None if cap is NOT_SET else cap,
                    "rounds": rounds, "cap_reached": stopped == "iteration cap",
                    "candidates": len(d.get("candidates", [])), "confirmed": len(d.get("super_weights", []))})
    return out


SELECTION_STEPS = (("detection's confirmation", "detection.confirm.corpus", None),
                   ("z: auto (weight quantization)", "quantization.weights.calibration.corpus",
                    ("quantization.weights.z", "auto")),
                   ("SmoothQuant calibration", "quantization.activations.calibration.corpus",
                    ("quantization.activations.methods", "smoothquant")))
EVALUATION_STEPS = (("Table 1 perplexity", "perplexity.corpora"), ("scaling sweep", "analysis.scaling.corpora"),
                    ("weight quantization sweep", "quantization.weights.corpora"),
                    ("W8A8 (Tables 3, 4)", "quantization.activations.corpora"),
                    ("mechanism skip / significance", "mechanism.corpus"))


def text_splits(cfg: dict, detections: dict | None = None) -> list[dict]:
    """Which text (corpus and split) each step used: the choices the run makes from data (detection's confirmation,
    z tuning, SmoothQuant's calibration) and the evaluations that judge the verdicts. Confirmation's split is what
    detection recorded (super_weights.json ``confirmed_on``) where it ran, else the config's."""
    from superweight.scoring.data import SPLITS

    rows = []
    for step, key, when in SELECTION_STEPS:
        corpus = lookup(cfg, key)
        if corpus is NOT_SET or (when and not _enabled(lookup(cfg, when[0]), when[1])):
            continue
        split = SPLITS.get(corpus, corpus)
        if corpus == "c4" and key.startswith("quantization."):  # calibration: C4 documents after the evaluated ones (data.c4_calibration_documents)
            split = "C4 validation documents after the first perplexity.c4_docs (the evaluated ones): not evaluated"
        if key == "detection.confirm.corpus" and detections:
            seen = {((d or {}).get("confirmed_on") or {}).get("split") for d in detections.values()} - {None}
            if seen:
                split = "; ".join(sorted(map(str, seen))) + " (as recorded in super_weights.json)"
        rows.append({"step": step, "role": "chooses", "key": key, "corpus": corpus, "split": split})
    for step, key in EVALUATION_STEPS:
        corpora = lookup(cfg, key)
        if corpora is NOT_SET or (key == "mechanism.corpus" and not _enabled(lookup(cfg, "mechanism.experiments"),
                                                                          ("skip", "significance"))):
            continue
        for corpus in [corpora] if isinstance(corpora, str) else corpora:
            rows.append({"step": step, "role": "evaluates", "key": key, "corpus": corpus,
                         "split": SPLITS.get(corpus, corpus)})
    return rows


def _enabled(value, wanted) -> bool:
    """Whether a config value turns a step on: equals ``wanted``, or (a list) holds it / one of them."""
    wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
    if isinstance(value, list):
        return bool(set(value) & set(wanted))
    return value in wanted


def report(cfg: dict, data_dir: str | bool | None, detections: dict | None = None, installed: dict | None = None) -> dict:
    """The deviation report of one run, as written to results/protocol.json. ``detections``: model -> its
    detection summary (super_weights.json), for the loop's outcome and the versions the model jobs ran."""
    rows = compare(cfg)
    outcomes = detection_outcomes(cfg, detections)
    return {"paper": "The Super Weight in Large Language Models (arXiv 2411.07191)",
            "models": run_models(cfg), "settings": rows,
            "differs": [r["key"] for r in rows if r["status"] == "differs"],
            "not_set": [r["key"] for r in rows if r["status"] == "not set"],
            "paper_same": [r["key"] for r in rows if r["class"] == PAPER and r["status"] == "same"],
            "interpretations": [r["key"] for r in rows if r["class"] == INTERPRETATION],
            "additions": [r["key"] for r in rows if r["class"] == ADDITION],
            "official": [r["key"] for r in rows if r["class"] == OFFICIAL_CODE],
            "no_effect": [{"key": k, "reason": why} for k, why in NO_EFFECT.items()],
            "fixed": fixed_choices.rows(),
            "facts": facts(cfg, data_dir),
            "versions": versions(detections, installed),
            "detection": outcomes,
            "text_splits": text_splits(cfg, detections),
            "detection_cap_reached": [o["model"] for o in outcomes if o["cap_reached"]]}


def _show(v, status: str) -> str:
    if status == "not set":
        return "not set"
    return "null" if v is None else json.dumps(v) if not isinstance(v, str) else v


def _table(rows: list[dict], with_class: bool = False) -> list[str]:
    head = ["setting", "this run", "reference", "status", "source", "note", "official code's option"]
    if with_class:
        head.insert(3, "class")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ref = _show(r["paper"], "") if r["has_paper_value"] else "none"
        cells = [f"`{r['key']}`", _show(r["value"], r["status"]), ref, r["status"], r["source"], r["note"],
                 r["official_option"] or ""]
        if with_class:
            cells.insert(3, r["class"])
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return lines


def markdown(rep: dict) -> str:
    """results/protocol.md: the differences, the paper's settings, the official code's, the interpretations and
    the additions in their own sections, the detection loop's outcome, the data, the library versions."""
    rows = rep["settings"]
    n = len(rep["differs"])
    by = {c: [r for r in rows if r.get("class") == c] for c in CLASSES[:4]}
    paper_rows = by[PAPER]
    n_same = sum(r["status"] == "same" for r in paper_rows)
    lines = ["# This run against the paper's protocol", "",
             f"Paper: {rep['paper']}. Models run: {', '.join(rep['models'])}.", "",
             (f"**{n} setting(s) differ from the paper's protocol:** {', '.join(rep['differs'])}." if n else
              "**No setting differs from the paper's protocol as this project reads it.**")
             + f" {n_same} of {len(paper_rows)} settings the paper states equal the paper's value; "
             f"{len(by[OFFICIAL_CODE])} follow the official code, {len(by[INTERPRETATION])} are interpretations "
             f"where the paper is silent or ambiguous, {len(by[ADDITION])} are additions with no counterpart "
             "in the paper (each in its section below)."
             + (f" Not set in this checkout: {', '.join(rep['not_set'])}." if rep["not_set"] else ""), ""]
    capped = rep.get("detection_cap_reached") or []
    if capped:
        lines += [f"**Detection stopped at its iteration cap (detection.max_iters) with spikes left for: "
                  f"{', '.join(capped)}.** Super weights beyond the cap were never searched.", ""]
    diff_rows = [r for r in rows if r["status"] == "differs"]
    lines += ["## Differences", ""]
    lines += _table(diff_rows, with_class=True) if diff_rows else ["None."]
    sections = [(PAPER, "Settings the paper states", "status `same`: this run uses the paper's value."),
                (OFFICIAL_CODE, "Settings from the official code", "the paper is silent; the reference is the value "
                 "of its official code (or of the code of a method it cites), file and line in `source`."),
                (INTERPRETATION, "Interpretations", "the paper is silent or ambiguous: the reference is the "
                 "project's reading (config/paper.yaml), the note says what was chosen and why. The paper gives none of "
                 "these values: an interpretation is never the paper's value."),
                (ADDITION, "Additions", "no counterpart in the paper or its code; the reference is "
                 "config/paper.yaml's value where it sets one.")]
    for cls, title, what in sections:
        lines += ["", f"## {title}", "", what, ""] + (_table(by[cls]) if by[cls] else ["None."])
    lines += ["", "## Choices no setting changes", "", "Fixed in the code (superweight.report.fixed_choices); whose "
              "choice each is: the paper's, its official code's, a cited method's (SmoothQuant, GPTQ) or this "
              "project's.", "", "| choice | whose | module | this project | reference | why |",
              "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(f[c]).replace("|", "\\|") for c in ("choice", "whose", "module", "this project",
                                                                         "reference", "why")) + " |"
              for f in rep.get("fixed", [])]
    lines += ["", "## No effect on numbers", "", "| setting | why |", "|---|---|"]
    lines += [f"| `{x['key']}` | {x['reason']} |" for x in rep.get("no_effect", [])]
    if rep.get("detection"):
        lines += ["", "## Detection loop", "", "| model | stopped | rounds | cap | candidates | confirmed |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {d['model']} | {'**iteration cap (spikes left)**' if d['cap_reached'] else d['stopped']} | "
                  f"{d['rounds'] if d['rounds'] is not None else ''} | {d['max_iters']} | {d['candidates']} | "
                  f"{d['confirmed']} |" for d in rep["detection"]]
    if rep.get("text_splits"):
        lines += ["", "## Text each step used", "", "Choices the run makes from data use text no evaluation reads "
                  "(config validation refuses a confirmation corpus an evaluation shares; calibration is checked "
                  "against every evaluated corpus).", "", "| step | role | setting | corpus | split |",
                  "|---|---|---|---|---|"]
        lines += [f"| {t['step']} | {t['role']} | `{t['key']}` | {t['corpus']} | {t['split']} |"
                  for t in rep["text_splits"]]
    lines += ["", "## Data and environment", "", "| fact | status | note |", "|---|---|---|"]
    lines += [f"| {f['fact']} | {f['status']} | {f['note']} |" for f in rep["facts"]]
    lines += ["", "## Library versions", "", "| package | version | from | paper |", "|---|---|---|---|"]
    lines += [f"| {v['package']} | {v['version']} | {v['from']} | {v['paper']} |" for v in rep.get("versions", [])]
    return "\n".join(lines) + "\n"


def relevant(cfg: dict) -> dict:
    """Only the config values the report reads (a rule's params: editing anything else does not rerun it)."""
    out: dict = {}
    keys = [k for s in SETTINGS for k, _ in _expand(cfg, s.key)] + ["eval.limit", "quantization.activations.methods"]
    for key in keys:
        v = lookup(cfg, key)
        if v is NOT_SET:
            continue
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = v
    out["run_models"] = run_models(cfg)
    return out
