"""The results tables of results/tables/ (and the mechanism and case-study tables) as HTML pages beside their CSV
and LaTeX, in the report's style (superweight.report.html); a table too wide for the window is shown as several."""
from __future__ import annotations

import re

from superweight.report.html import _code, esc, fmt_value, page, soft_breaks

KEYS = ("model", "condition", "task", "method", "bits", "block", "variant", "kind")  # a row's identity, not a number
WIDE, PART = 15, 10  # a table of more than WIDE other columns is shown as several of at most PART, each with its keys


def _shape(values) -> str:
    """What a column holds: values with an SE ("±"), intervals ("["), or anything else ("")."""
    texts = [str(v) for v in values]
    return "±" if any(" ± " in t for t in texts) else "[" if any(re.search(r"\[.+,.+\]", t) for t in texts) else ""


def column_parts(df) -> list[list[str]]:
    """The columns of each table a results table is shown as: all of them, or, when more than WIDE besides the
    leading key columns, parts of at most PART that keep runs of one shape together (accuracies ± SE, then
    intervals, then counts), each part led by the key columns, so a wide table does not scroll sideways."""
    cols = list(df.columns)
    keys = []
    for c in cols:
        if c not in KEYS:
            break
        keys.append(c)
    rest = cols[len(keys):]
    if len(rest) <= WIDE:
        return [cols]
    runs: list[list[str]] = []
    for c in rest:
        shape = _shape(df[c])
        if runs and _shape(df[runs[-1][-1]]) == shape:
            runs[-1].append(c)
        else:
            runs.append([c])
    parts: list[list[str]] = [[]]
    for run in runs:
        if parts[-1] and len(parts[-1]) + len(run) > PART:
            parts.append([])
        for c in run:
            if len(parts[-1]) == PART:
                parts.append([])
            parts[-1].append(c)
    return [keys + part for part in parts]


def _results_table(df, columns: list[str]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in columns:
            v = r[c]
            s = fmt_value(v) if not isinstance(v, str) else v
            num = bool(re.match(r"^[-+]?(\d|inf|–)", s)) and c not in KEYS
            cell = esc(s).replace(" ± ", " ±\u00a0")  # may break before the SE, not inside "± SE"
            cells.append(f"<td class=\"num\">{cell}</td>" if num else f"<td>{soft_breaks(cell)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table class=\"sw-results\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def table_page(df, caption: str = "", note: str = "") -> str:
    """A results table (already formatted for reading, see tables.display) as a standalone HTML page; a wide one
    as several tables (column_parts)."""
    title = caption.split(":")[0] if caption else "table"
    parts = []
    if caption:
        parts.append(f"<p><b>{_code(caption)}</b></p>")
    if note:
        parts.append(f"<p class=\"sw-muted\">{_code(note)}</p>")
    parts += [_results_table(df, cols) for cols in column_parts(df)]
    return page(title, "\n".join(parts))
