"""Where each scored experiment's result lives under results/{model}/: one pattern per kind, read by the workflow's
run plan (its rules' outputs), the claims (the files they read) and the reproduction marks. Callers build a path
(``scores``), a glob (``glob``) or read a path's fields back (``fields``, ``find``) here, so that no caller spells a
result path or splits one by '/'. Standard library only (the submit host and config checks import it)."""
from __future__ import annotations

import re
import string

SCORES = {
    "ablation": "ablation/{condition}/scores.json",
    "scaling": "scaling/x{factor}/scores.json",
    "wquant": "wquant/int{bits}/{wmethod}/block{block}/scores.json",
    "wquant_restored": "wquant/int{bits}/{wmethod}/block{block}/sw_x{factor}/scores.json",
    "aquant": "aquant/w8a8/{amethod}/scores.json",
}
FILE = "scores.json"  # the name of every scored experiment's result (each SCORES pattern ends in it)
Z = "wquant/int{bits}/z_block{block}.json"  # a model's tuned clipping z per bits and block (`z: auto`)
DETECT = "detect/super_weights.json"  # a model's detected and used super weights (every experiment reads it)
KINDS = {**SCORES, "z": Z}  # every pattern by kind: the scored experiments' and the tuned z's


def _pattern(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown result kind {kind!r}: use one of {', '.join(KINDS)}")
    return KINDS[kind]


def names(kind: str) -> list[str]:
    """The fields of ``kind``'s pattern, in the order the path writes them."""
    return [f for _, f, _, _ in string.Formatter().parse(_pattern(kind)) if f]


def _check(kind: str, given: dict, every: bool) -> None:
    want = names(kind)
    extra, lacking = sorted(set(given) - set(want)), [f for f in want if f not in given]
    if extra or (every and lacking):
        raise ValueError(f"{kind} results are {_pattern(kind)}: give exactly the fields {', '.join(want)}"
                         + (f" (unknown: {', '.join(extra)})" if extra else f" (missing: {', '.join(lacking)})"))


def scores(kind: str, **fields) -> str:
    """The result path of one experiment of ``kind`` (relative to results/{model}/); every field given."""
    _check(kind, fields, every=True)
    return _pattern(kind).format(**{k: str(v) for k, v in fields.items()})


def glob(kind: str, **fields) -> str:
    """A glob of ``kind``'s results, each field not given as '*'. Exact for pathlib's glob, where '*' stays within
    one folder; fnmatch's '*' crosses '/' (the plain wquant glob then also matches restored results): match names
    with ``fields`` or ``find`` instead."""
    _check(kind, fields, every=False)
    return _pattern(kind).format(**{f: str(fields[f]) if f in fields else "*" for f in names(kind)})


def _regex(kind: str) -> re.Pattern:
    out = ""
    for text, field, _, _ in string.Formatter().parse(_pattern(kind)):
        out += re.escape(text) + (f"(?P<{field}>[^/]+)" if field else "")
    return re.compile(out)


def fields(kind: str, path: str) -> dict[str, str] | None:
    """The fields of a path of ``kind`` (relative to results/{model}/), as the path writes them (strings; callers
    convert), or None when the path is not one of ``kind``'s results."""
    m = _regex(kind).fullmatch(str(path))
    return m.groupdict() if m else None


def find(kind: str, rels, **given) -> list[tuple[str, dict[str, str]]]:
    """(path, its fields) of each path in ``rels`` that is a result of ``kind`` with the ``given`` fields (compared
    as the path writes them), sorted by path."""
    _check(kind, given, every=False)
    out = []
    for rel in sorted(rels):
        f = fields(kind, rel)
        if f is not None and all(f[k] == str(v) for k, v in given.items()):
            out.append((rel, f))
    return out
