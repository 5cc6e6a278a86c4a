"""config/README.md from the config schema: every key with what it does, what it accepts and its default.

    python -m superweight.workflow.schema_doc > config/README.md

The schema (workflow/schemas/config.schema.yaml) is the one source; a test fails when the README differs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"

HEADER = """# Configuration

`config/config.yaml` (the default run: one small model on CPU) and `config/paper.yaml` (the paper's models and
protocol, merged over it with `--configfile`) are validated against `workflow/schemas/config.schema.yaml` when
Snakemake starts: an unknown key, a wrong type or value, a missing data file, a model that cannot be found, known
coordinates outside the model's shape or a `paper` key that does not exist stop the run with one line naming the
key and the fix, before any job. Keys left out take the defaults below.

This file is generated from the schema (`python -m superweight.workflow.schema_doc > config/README.md`); edit the schema's
descriptions, not this file.

| key | what it does | accepts | default |
|---|---|---|---|
"""


def _accepts(s: dict) -> str:
    if "enum" in s:
        return " | ".join(f"`{v}`" for v in s["enum"])
    if "const" in s:
        return f"`{s['const']}`"
    for key in ("oneOf", "anyOf"):
        if key in s:
            return " or ".join(_accepts(sub) for sub in s[key])
    kind = s.get("type", "")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join(k for k in kinds if k)
    if "array" in kinds and isinstance(s.get("items"), dict):
        text = f"list of {_accepts(s['items'])}"
    bounds = [f"{op} {s[k]}" for k, op in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                           ("exclusiveMaximum", "<")) if k in s]
    if "pattern" in s:
        bounds.append(f"matching `{s['pattern']}`")
    return " ".join([text, ", ".join(bounds)]).strip()


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def rows(props: dict, prefix: str = "", required=()):
    """(key, description, accepts, default) for every key, depth first, in schema order."""
    for name, s in props.items():
        key = f"{prefix}{name}"
        nested = s.get("properties")
        extra = s.get("additionalProperties")
        if nested is None and isinstance(extra, dict) and "properties" in extra:
            yield key, s.get("description", ""), "mapping: name → settings below", ""
            yield from rows(extra["properties"], f"{key}.NAME.", extra.get("required", ()))
            continue
        if nested is not None:
            yield key, s.get("description", ""), "mapping", ""
            yield from rows(nested, f"{key}.", s.get("required", ()))
            continue
        default = f"`{json.dumps(s['default'])}`" if "default" in s else ("required" if name in required else "")
        yield key, s.get("description", ""), _accepts(s), default


def markdown(schema: dict) -> str:
    lines = [f"| `{k}` | {_cell(d)} | {_cell(a)} | {_cell(v)} |"
             for k, d, a, v in rows(schema["properties"], "", schema.get("required", ()))]
    return HEADER + "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(markdown(yaml.safe_load(SCHEMA.read_text())))


if __name__ == "__main__":
    main()
