"""results/reproduction.{json,csv,md} from the per-number rows (report.reproduce_rows), the report landing page's
lead block ("k of n paper numbers reproduced", the ones that were not; one line for a model outside the paper),
and each table's marks (report.tables.with_paper)."""
from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path

from superweight.report.reproduce import NOT_REPRODUCED, NOT_RUN, REPRODUCED, TOLERANCE, UNDECIDED, counts

SYMBOL = {REPRODUCED: "✓", NOT_REPRODUCED: "✗", "undecided": "?"}
COLUMNS = ("table", "model", "quantity", "paper", "value", "lo", "hi", "level", "n", "basis", "band_lo", "band_hi",
           "tolerance", "mark", "reason")


def result(rows: list[dict], models: list[str], paper_models: list[str], alpha: float) -> dict:
    """The reproduction result: every row, the run's models, which of them the paper has, the tolerances."""
    return {"alpha": alpha, "models": list(models), "paper_models": list(paper_models), "rows": rows,
            "tolerances": {k: {"kind": t.kind, "width": t.width, "why": t.why} for k, t in TOLERANCE.items()}}


def _v(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        return "inf" if math.isinf(x) else f"{x:.4g}"
    return str(x)


def _interval(r: dict) -> str:
    return "" if r.get("lo") is None else f"[{_v(r['lo'])}, {_v(r['hi'])}] ({100 * r['level']:.0f}%)"


def _band(r: dict) -> str:
    return "exact" if r.get("band_lo") is None else f"[{_v(r['band_lo'])}, {_v(r['band_hi'])}]"


def summary_line(data: dict, model: str) -> str:
    """'k of n paper numbers reproduced (u undecided, m not reproduced)' for a paper model."""
    mine = [r for r in data["rows"] if r["model"] == model]
    c = counts(mine)
    idle = sum(r["mark"] == UNDECIDED and r["reason"] == NOT_RUN for r in mine)
    return (f"{model}: {c[REPRODUCED]} of {len(mine)} paper numbers reproduced ({c[NOT_REPRODUCED]} not reproduced, "
            f"{c[UNDECIDED]} undecided" + (f", of which {idle} not scored in this run" if idle else "") + ")")


def outside_line(model: str) -> str:
    return f"{model}: not one of the paper's models (no `paper:` entry), so no paper number to reproduce."


def landing_markdown(data: dict) -> str:
    """The landing page's lead block in Markdown: per paper model the count and the numbers not reproduced; one
    line per model outside the paper."""
    lines = ["## The paper's numbers", ""]
    for m in data["models"]:
        if m not in data["paper_models"]:
            lines += [outside_line(m), ""]
            continue
        lines += [f"**{summary_line(data, m)}.**", ""]
        bad = [r for r in data["rows"] if r["model"] == m and r["mark"] == NOT_REPRODUCED]
        lines += [f"- {r['table']}, {r['quantity']}: paper {_v(r['paper'])}, this run {_v(r['value'])} "
                  f"(band {_band(r)}; {r['reason']})" for r in bad] + ([""] if bad else [])
    lines.append(_error_note(data))
    return "\n".join(lines) + "\n"


def landing_html(data: dict) -> str:
    """The same block as HTML, for the top of results/claims.html (the report's landing page)."""
    out = ['<h2 id="sw-reproduction">The paper\'s numbers</h2>']
    for m in data["models"]:
        if m not in data["paper_models"]:
            out.append(f"<p>{escape(outside_line(m)).replace('`paper:`', '<code>paper:</code>')}</p>")
            continue
        out.append(f"<p><b>{escape(summary_line(data, m))}.</b></p>")
        bad = [r for r in data["rows"] if r["model"] == m and r["mark"] == NOT_REPRODUCED]
        if bad:
            out.append("<ul>" + "".join(
                f"<li>{escape(r['table'])}, {escape(r['quantity'])}: paper {escape(_v(r['paper']))}, this run "
                f"{escape(_v(r['value']))} (band {escape(_band(r))}; {escape(r['reason'])})</li>" for r in bad)
                + "</ul>")
    out.append(f"<p class=\"sw-muted\">{escape(_error_note(data))}</p>")
    return "\n".join(out)


def _error_note(data: dict) -> str:
    return ("A mark is given only where the run scored the paper's whole test set (every document, the paper's "
            "windows): there the value has no sampling error and is marked by whether it lies in a stated band "
            "around the paper's (results/reproduction.md: the bands and why), so a mark carries no error rate and "
            "its correctness rests on the band. A subset (lm-eval's first N documents, the first or spread windows) "
            "is no random sample: its numbers are undecided, their intervals shown for reading. The claims may read "
            "otherwise: they test this run's own comparisons on its samples, these marks the paper's printed values.")


def render_md(data: dict) -> str:
    """results/reproduction.md: the lead block, each paper model's numbers, the tolerances with their reasons."""
    lines = ["# Reproduction of the paper's numbers", "", landing_markdown(data)]
    for m in data["paper_models"]:
        mine = [r for r in data["rows"] if r["model"] == m]
        lines += [f"## {m}", "", "| table | quantity | paper | this run | interval | n | band | mark | reason |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['table']} | {r['quantity']} | {_v(r['paper'])} | {_v(r['value'])} | {_interval(r)} "
                  f"| {_v(r['n'])} | {_band(r)} | {SYMBOL[r['mark']]} {r['mark']} | {r['reason']} |" for r in mine]
        lines.append("")
    lines += ["## Tolerances", "", "| kind | band | why |", "|---|---|---|"]
    lines += [f"| {k} | {v['kind']} {v['width']:g} | {v['why']} |" for k, v in data["tolerances"].items()]
    return "\n".join(lines) + "\n"


def write(data: dict, stem: Path) -> list[Path]:
    """stem.json, stem.csv (one row per paper number), stem.md."""
    import pandas as pd

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    pd.DataFrame(data["rows"], columns=list(COLUMNS)).to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(render_md(data))
    return [stem.with_suffix(s) for s in (".json", ".csv", ".md")]


def paper_cells(data: dict | None, model: str, *tables: str) -> dict[tuple[str, str], tuple[object, str]]:
    """{(row label, key): (the paper's value, "✓ reproduced")} of one model's numbers of the paper ``tables``: the
    label is the quantity's text before ': ' (Table 1: the condition), the key the task, 'avg', the corpus, or
    '{corpus} / fp' (a W8A8 method's ratio to fp), '{corpus} share of ...'."""
    out = {}
    for r in (data or {}).get("rows", []):
        if r["model"] != model or r["table"] not in tables or ": " not in r["quantity"]:
            continue
        label, what = r["quantity"].split(": ", 1)
        key = what.replace(" (%)", "").replace(" ppl", "").replace("avg accuracy", "avg")
        out[(label, key)] = (r["paper"], f"{SYMBOL[r['mark']]} {r['mark']}")
    return out


def marks_for(data: dict | None, model: str, table: str) -> dict[tuple[str, str], str]:
    """{(row label, key): "✓ reproduced" (the symbol and the mark)} of one model's numbers of one paper table
    (paper_cells' keys), for the tables' paper rows."""
    return {k: mark for k, (_, mark) in paper_cells(data, model, table).items()}


def read(path: Path | str | None) -> dict | None:
    """A reproduction result, or None when the run made none."""
    return json.loads(Path(path).read_text()) if path and Path(path).is_file() else None

