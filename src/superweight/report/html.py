"""HTML pages of the run's results, for reading in a browser and on the Snakemake report's landing page:
results/claims.html (the verdict matrix, claims x models, each cell linked to its detail) and results/protocol.html
(where this run departs from the paper's protocol), rendered from claims.json and protocol.json only, and the run
summary's Markdown (markdown-it); the results tables' pages are report.html_tables.

Rendering is generic over the records: keys it does not know are shown as they are, and a verdict is coloured by
how it starts ("holds ...", "fails ...", "inconclusive ...", "not applicable ..."), so details in parentheses and new
keys need no change here; a matrix cell shows the kind and strength mark, the whole verdict one click away. Each
page is standalone (its style inline, no scripts); the part between the LANDING markers is what the report's landing
page (workflow/report/workflow.rst) embeds."""
from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

from markdown_it import MarkdownIt

LANDING = "<!-- superweight:landing -->"  # the landing page embeds what lies between two of these
VERDICT_KINDS = ("holds", "fails", "inconclusive", "not applicable")
MARKS = ("paper strength", "direction")  # a holding verdict's strength grade, shown beside it in the matrix
# CommonMark with GitHub's pipe tables; raw HTML in the result files is escaped, not passed through
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")

CSS = """
.sw-doc { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px; line-height: 1.45;
  color: #1f2328; max-width: 1200px; }
.sw-doc h1 { font-size: 1.5em; margin: 0.6em 0 0.4em; }
.sw-doc h2 { font-size: 1.25em; margin: 1.2em 0 0.4em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; }
.sw-doc h3 { font-size: 1.05em; margin: 1em 0 0.3em; }
.sw-doc p { margin: 0.4em 0; }
.sw-doc table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; width: auto; }
.sw-doc th, .sw-doc td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top;
  overflow-wrap: break-word; }
.sw-doc table.sw-wide .sw-v { white-space: normal; }
.sw-doc table.sw-matrix td, .sw-doc table.sw-matrix th { padding: 3px 4px; }
.sw-doc table.sw-matrix .sw-sec { display: block; font-size: 11.5px; color: #57606a; }
.sw-doc table.sw-matrix .sw-v { white-space: normal; font-size: 11.5px; padding: 1px 5px; }
.sw-doc table.sw-matrix td:first-child code { white-space: normal; }
.sw-doc th { background: #f6f8fa; font-weight: 600; }
.sw-doc table.sw-wide { width: 100%; table-layout: auto; }
.sw-doc td.num { text-align: right; }
.sw-doc table.sw-results { font-size: 12px; }
.sw-doc table.sw-results td, .sw-doc table.sw-results th { padding: 2px 5px; }
.sw-doc details.sw-cell summary { cursor: pointer; list-style: none; }
.sw-doc details.sw-cell summary::-webkit-details-marker { display: none; }
.sw-doc details.sw-cell summary .sw-v::after { content: " \\25B8"; font-weight: normal; }
.sw-doc details.sw-cell[open] summary .sw-v::after { content: " \\25BE"; }
.sw-doc details.sw-cell .sw-full { display: block; max-width: 22em; margin: 3px 0 2px; font-size: 11.5px;
  white-space: normal; overflow-wrap: break-word; }
.sw-doc code::before, .sw-doc code::after { content: none; }
.sw-doc code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.92em; background: #f6f8fa;
  padding: 0 3px; border-radius: 3px; }
.sw-doc ul { margin: 0.2em 0; padding-left: 1.3em; }
.sw-doc li { margin: 0.1em 0; }
.sw-doc dl { margin: 0.3em 0; display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.sw-doc dt { font-weight: 600; color: #57606a; }
.sw-doc dd { margin: 0; overflow-wrap: anywhere; }
.sw-doc .sw-claim { border: 1px solid #d0d7de; border-radius: 6px; padding: 4px 12px 8px; margin: 0.8em 0; }
.sw-doc a.sw-v, .sw-doc span.sw-v { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600;
  text-decoration: none; white-space: nowrap; font-size: 12.5px; }
.sw-doc .sw-holds { background: #dafbe1; color: #116329; border: 1px solid #8fd9a4; }
.sw-doc .sw-fails { background: #ffebe9; color: #a40e26; border: 1px solid #ff9ea0; }
.sw-doc .sw-inconclusive { background: #fff8c5; color: #7d4e00; border: 1px solid #e7c65a; }
.sw-doc .sw-na { background: #eaeef2; color: #57606a; border: 1px solid #c8d1da; }
.sw-doc .sw-other { background: #ddf4ff; color: #0a3069; border: 1px solid #80ccff; }
.sw-doc tr.sw-differs td { background: #fff8f0; }
.sw-doc .sw-muted { color: #57606a; }
"""


def esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def anchor(*parts: str) -> str:
    """An HTML id from claim / model names (letters, digits, - and _ only)."""
    return "sw-" + "--".join(re.sub(r"[^A-Za-z0-9_-]+", "_", str(p)) for p in parts)


def verdict_kind(verdict) -> str:
    """The CSS class of a verdict by its first words: holds / fails / inconclusive / na, or other."""
    v = str(verdict or "").strip().lower()
    for k in VERDICT_KINDS:
        if v.startswith(k):
            return "sw-na" if k == "not applicable" else f"sw-{k}"
    return "sw-other"


def verdict_mark(verdict) -> str:
    """The strength grade a verdict names first in its parentheses ("holds (paper strength)" -> "paper strength",
    "holds (direction; ...)" -> "direction"), else ""."""
    m = re.match(r"[^(]*\(([^;:,()]*)", str(verdict or ""))
    mark = m.group(1).strip() if m else ""
    return mark if mark in MARKS else ""


def short_verdict(verdict) -> str:
    """What a matrix cell shows: the verdict's kind ("holds", "fails", "inconclusive", "not applicable") and its
    strength mark ("holds · paper strength"); a verdict of no known kind up to its first parenthesis or colon."""
    kind = verdict_kind(verdict)
    text = str(verdict or "").strip()
    word = next((k for k in VERDICT_KINDS if text.lower().startswith(k)), None)
    if word is None:
        return re.split(r"[(:]", text)[0].strip() or "–"
    mark = verdict_mark(verdict) if kind == "sw-holds" else ""
    return f"{word} · {mark}" if mark else word


def badge(verdict, href: str | None = None) -> str:
    """A verdict in full, coloured by its kind (linked to ``href`` when given)."""
    cls = f"sw-v {verdict_kind(verdict)}"
    text = esc(str(verdict or "") or "–")
    if href:
        return f'<a class="{cls}" href="#{href}">{text}</a>'
    return f'<span class="{cls}">{text}</span>'


def verdict_cell(verdict, href: str) -> str:
    """A matrix cell: the short verdict (short_verdict), the whole wording one click away (<details>) with a link
    to its test and evidence; a verdict that is its own short form is the link itself."""
    short, full = short_verdict(verdict), str(verdict or "") or "–"
    cls = f"sw-v {verdict_kind(verdict)}"
    if short == full:
        return f'<a class="{cls}" href="#{href}">{esc(short)}</a>'
    return (f'<details class="sw-cell"><summary><span class="{cls}">{esc(short)}</span></summary>'
            f'<span class="sw-full">{_code(full)} <a href="#{href}">evidence</a></span></details>')


def fmt_value(v) -> str:
    """A cell: numbers to 4 significant digits, lists and dicts as compact JSON, None as –."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def soft_breaks(markup: str, longer_than: int = 15) -> str:
    """Line-break opportunities (<wbr>) after / _ . inside long unbroken tokens of the text (not in tags), so a
    path or a dotted key wraps in a narrow column instead of widening its table past the window."""
    def split(tok: re.Match) -> str:
        return re.sub(r"(?<=[/_.])(?=[^\s/_.])", "<wbr>", tok.group(0))
    parts = re.split(r"(<[^>]+>)", markup)
    return "".join(p if p.startswith("<") else re.sub(rf"[^\s<>]{{{longer_than + 1},}}", split, p) for p in parts)


def _code(s) -> str:
    """The result files' inline Markdown (`code`, **bold**) as HTML (markdown-it, raw HTML escaped); long tokens
    may break after / _ . (soft_breaks)."""
    return soft_breaks(MARKDOWN.renderInline("" if s is None else str(s)))


def page(title: str, body: str) -> str:
    """A standalone HTML document; ``body`` (with its style) is what the landing page embeds. Each table row and
    cell, list item and definition starts a line: Snakemake's report reads the landing page through docutils, which
    drops a raw block with a line over 10,000 characters (a long evidence, a protocol table of 28 rows, or a matrix
    row of many models' whole verdicts reach that)."""
    body = body.replace("<tr", "\n<tr").replace("<td", "\n<td").replace("<li>", "\n<li>").replace("<dt>", "\n<dt>")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{esc(title)}</title>\n'
            f"</head>\n<body>\n{LANDING}\n<style>{CSS}</style>\n<div class=\"sw-doc\">\n{body}\n</div>\n{LANDING}\n"
            "</body>\n</html>\n")


# --- claims ---

KNOWN_CLAIM_KEYS = ("model", "claim", "section", "statement", "paper", "test", "thresholds", "verdict", "evidence",
                    "estimates", "descriptive", "early_stop")


def _estimates(est: dict) -> str:
    """The estimates behind a verdict: value [lo, hi], n and method; other entries as they are."""
    if not est:
        return ""
    rows = []
    for name, e in est.items():
        if isinstance(e, dict) and "value" in e:
            ci = ""
            if e.get("lo") is not None and e.get("hi") is not None:
                lvl = e.get("level")
                ci = f"[{fmt_value(e['lo'])}, {fmt_value(e['hi'])}]" + (
                    f" ({100 * lvl:.0f}% CI)" if isinstance(lvl, (int, float)) else "")
            rows.append(f"<tr><td>{esc(name)}</td><td class=\"num\">{esc(fmt_value(e['value']))}</td>"
                        f"<td>{esc(ci)}</td><td class=\"num\">{esc(fmt_value(e.get('n')))}</td>"
                        f"<td>{esc(e.get('method') or '')}</td></tr>")
        else:
            rows.append(f"<tr><td>{esc(name)}</td><td colspan=\"4\">{esc(fmt_value(e))}</td></tr>")
    return ("<table><thead><tr><th>estimate</th><th>value</th><th>interval</th><th>n</th><th>method</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _evidence(text) -> str:
    """Evidence as a list, one sub-test per item (the claims join them with '; ')."""
    items = []
    for part in re.split(r";\s+(?![^()\[\]]*[)\]])", str(text or "")):
        part = part.strip()
        if part and items and part.startswith("needs "):  # a sub-test's threshold belongs to its estimate
            items[-1] += f"; {part}"
        elif part:
            items.append(part)
    if len(items) <= 1:
        return f"<p>{_code(text or '–')}</p>"
    return "<ul>" + "".join(f"<li>{_code(i)}</li>" for i in items) + "</ul>"


def claims_body(data: dict, protocol: dict | None = None) -> str:
    """The verdict matrix (claims x models), counts, then each claim's detail per model."""
    rows = data.get("claims", [])
    models = list(data.get("models") or dict.fromkeys(r.get("model") for r in rows))
    by = {(r.get("claim"), r.get("model")): r for r in rows}
    ids = list(dict.fromkeys(r.get("claim") for r in rows))
    first = {i: next(r for r in rows if r.get("claim") == i) for i in ids}
    out = ["<h2 id=\"sw-claims\">The paper's claims on this run's models</h2>",
           "<p>Each cell is one claim tested on one model: its verdict and strength mark; click it for the "
           "whole verdict and a link to its test and evidence. "
           + " ".join(badge(v) for v in VERDICT_KINDS) + ": <b>holds</b> / <b>fails</b> need the whole confidence "
           "interval on one side of the claim's threshold, otherwise the run was too small to decide "
           "(<b>inconclusive</b>); <b>not applicable</b> says why.</p>"]
    if protocol and protocol.get("differs"):
        out.append(f"<p class=\"sw-muted\">This run departs from the paper's protocol in {len(protocol['differs'])} "
                   "setting(s) (listed below the claims): a verdict is about this run's settings.</p>")
    head = "".join(f"<th>{esc(m)}</th><th>{esc(m)} strength</th>" for m in models)  # strength: report.strength
    out.append(f"<table class=\"sw-matrix\"><thead><tr><th>claim (paper)</th>{head}</tr></thead><tbody>")
    desc_ids = [i for i in ids if first[i].get("descriptive")]
    for i in [i for i in ids if i not in desc_ids] + desc_ids:
        if desc_ids and i == desc_ids[0]:
            out.append(f"<tr><th colspan=\"{2 * len(models) + 1}\">descriptive claims (one prompt, one pass: not tested, "
                       "not in the totals)</th></tr>")
        cells = []
        for m in models:
            r = by.get((i, m))
            cells.append(f"<td>{verdict_cell(r.get('verdict'), anchor(i, m))}</td>"
                         f"<td>{esc(r.get('strength') or '–')}</td>" if r else "<td>–</td><td>–</td>")
        breakable = esc(i).replace("_", "_<wbr>")  # long ids may break after an underscore
        out.append(f"<tr><td><a href=\"#{anchor(i)}\"><code>{breakable}</code></a>"
                   f"<span class=\"sw-sec\">{esc(first[i].get('section', ''))}</span></td>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    counts = {}
    counted = [r for r in rows if not r.get("descriptive")]
    for r in counted:
        k = verdict_kind(r.get("verdict"))
        counts[k] = counts.get(k, 0) + 1
    names = {"sw-holds": "holds", "sw-fails": "fails", "sw-inconclusive": "inconclusive", "sw-na": "not applicable",
             "sw-other": "other"}
    desc = list(dict.fromkeys(r.get("claim") for r in rows if r.get("descriptive")))
    out.append("<p>" + ", ".join(f"{counts[k]} {v}" for k, v in names.items() if k in counts) + f" ({len(counted)} "
               f"verdicts: {len(ids) - len(desc)} claims x {len(models)} model(s)"
               + (f"; not counted: the descriptive claims {', '.join(desc)}, one prompt and one pass each" if desc
                  else "") + ").</p>")
    from superweight.report.claims_render import error_across_models  # noqa: PLC0415  (no import cycle at load)
    out.append(f"<p>{esc(error_across_models(rows, models))}</p>")
    if any(r.get("early_stop") for r in rows):
        from superweight.report.verdicts import EARLY_STOP_NOTE  # noqa: PLC0415
        out.append(f"<p class=\"sw-muted\">{esc(EARLY_STOP_NOTE)}</p>")
    out.append("<h2>Each claim: the paper's number, the test, the evidence</h2>")
    for i in ids:
        c = first[i]
        th = c.get("thresholds")
        th_txt = (", ".join(f"{k} = {fmt_value(v)}" for k, v in th.items()) if isinstance(th, dict)
                  else fmt_value(th)) if th else ""
        out.append(f"<div class=\"sw-claim\" id=\"{anchor(i)}\"><h3><code>{esc(i)}</code> "
                   f"<span class=\"sw-muted\">({esc(c.get('section', ''))})</span></h3><dl>"
                   f"<dt>claim</dt><dd>{_code(c.get('statement', ''))}</dd>"
                   f"<dt>paper</dt><dd>{_code(c.get('paper', ''))}</dd>"
                   f"<dt>test</dt><dd>{_code(c.get('test', ''))}</dd>"
                   + (f"<dt>thresholds</dt><dd>{esc(th_txt)}</dd>" if th_txt else "") + "</dl>")
        out.append("<table class=\"sw-wide\"><thead><tr><th style=\"width:11em\">model</th><th style=\"width:12em\">"
                   "verdict</th><th>evidence</th></tr></thead><tbody>")
        for m in models:
            r = by.get((i, m))
            if not r:
                continue
            extra = "".join(f"<dt>{esc(k)}</dt><dd>{_code(fmt_value(v))}</dd>" for k, v in r.items()
                            if k not in KNOWN_CLAIM_KEYS and v not in (None, "", [], {}))
            out.append(f"<tr id=\"{anchor(i, m)}\"><td>{esc(m)}</td><td>{badge(r.get('verdict'))}</td>"
                       f"<td>{_evidence(r.get('evidence'))}{_estimates(r.get('estimates') or {})}"
                       + (f"<dl>{extra}</dl>" if extra else "") + "</td></tr>")
        out.append("</tbody></table></div>")
    return "\n".join(out)


# --- protocol ---

SETTING_COLUMNS = (("fact", "fact"), ("key", "setting"), ("value", "this run"), ("paper", "paper"),
                   ("status", "status"), ("source", "source"), ("note", "note"),
                   ("official_option", "official code's option"))
DEPARTS = ("differs", "may differ")


def _records_table(recs: list[dict]) -> str:
    """A list of dicts as a table: the settings' known columns first, any other keys after."""
    keys = list(dict.fromkeys(k for r in recs for k in r))
    known = [(k, lab) for k, lab in SETTING_COLUMNS if k in keys]
    cols = known + [(k, k) for k in keys if k not in dict(known) and k != "has_paper_value"]
    # drop columns empty in every row (e.g. no official option anywhere)
    cols = [(k, lab) for k, lab in cols if any(r.get(k) not in (None, "", [], {}) for r in recs)]
    body = []
    for r in recs:
        cells = []
        for k, _ in cols:
            v = r.get(k)
            if k == "paper" and r.get("has_paper_value") is False:
                txt = "no paper value"
            elif k in ("value", "paper") and v is None and r.get("status") != "not set":
                txt = "null"
            elif k == "key":
                txt = f"<code>{soft_breaks(esc(v), 0)}</code>"
            elif v in (None, ""):
                txt = ""
            else:
                txt = _code(v if isinstance(v, str) else fmt_value(v))
            cells.append(f"<td>{txt}</td>")
        cls = " class=\"sw-differs\"" if str(r.get("status", "")).lower() in DEPARTS else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    head = "".join(f"<th>{esc(lab)}</th>" for _, lab in cols)
    return f"<table class=\"sw-wide\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _departs(r: dict) -> bool:
    return str(r.get("status", "")).lower() in DEPARTS


def _generic(name: str, v) -> str:
    """A section of protocol.json this module does not know, shown by its shape."""
    title = f"<h3>{esc(name.replace('_', ' '))}</h3>"
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        return title + _records_table(v)
    if isinstance(v, dict):
        return title + "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{_code(fmt_value(x))}</dd>" for k, x in v.items()) \
            + "</dl>"
    if isinstance(v, list):
        return title + f"<p>{', '.join(_code(fmt_value(x)) for x in v) or '–'}</p>"
    return title + f"<p>{_code(fmt_value(v))}</p>"


def protocol_body(rep: dict, full: bool = True) -> str:
    """Where the run departs from the paper (settings and facts that differ), then, when ``full``, every setting,
    every fact and any other section of protocol.json."""
    settings = [r for r in rep.get("settings", []) if isinstance(r, dict)]
    facts = [r for r in rep.get("facts", []) if isinstance(r, dict)]
    dep = [r for r in settings if _departs(r)]
    dep_facts = [r for r in facts if _departs(r)]
    out = ["<h2 id=\"sw-protocol\">Where this run departs from the paper's protocol</h2>"]
    lead = f"Paper: {esc(rep.get('paper', ''))}."
    if rep.get("models"):
        lead += f" Models run: {esc(', '.join(map(str, rep['models'])))}."
    out.append(f"<p>{lead} "
               + (f"<b>{len(dep)} of {len(settings)} settings differ from the paper's</b>" if dep else
                  f"<b>All {len(settings)} settings equal the paper's</b>")
               + (f"; not set in this checkout: {esc(', '.join(map(str, rep['not_set'])))}" if rep.get("not_set")
                  else "")
               + ". Each row names the paper's source; a run at the paper's settings is "
               "<code>--configfile config/paper.yaml</code>.</p>")
    if dep:
        out.append(_records_table(dep))
    if dep_facts:
        out.append("<h3>Data and environment that differ</h3>" + _records_table(dep_facts))
    if full:
        out.append(f"<h2>Every setting ({len(settings)})</h2>" + _records_table(settings))
        if facts:
            out.append("<h2>Data and environment</h2>" + _records_table(facts))
        shown = {"paper", "models", "settings", "facts", "differs", "not_set"}
        for k, v in rep.items():
            if k not in shown:
                out.append(_generic(k, v))
    return "\n".join(out)


def claims_page(data: dict, protocol: dict | None = None, reproduction: dict | None = None) -> str:
    """results/claims.html: the paper's numbers reproduced (when the run made results/reproduction.json), the
    verdicts, then where the run departs from the protocol (when known)."""
    body = claims_body(data, protocol)
    if reproduction is not None:
        from superweight.report.reproduce_render import landing_html  # noqa: PLC0415

        body = landing_html(reproduction) + "\n" + body
    if protocol:
        body += "\n" + protocol_body(protocol, full=False)
    return page("The paper's claims on this run's models", body)


def protocol_page(rep: dict) -> str:
    """results/protocol.html: the departures first, then every setting and fact."""
    return page("This run against the paper's protocol", protocol_body(rep, full=True))


def write_pages(claims_json: Path | None, protocol_json: Path | None, claims_html: Path | None = None,
                protocol_html: Path | None = None, reproduction_json: Path | None = None) -> None:
    """Render results/claims.html (led by results/reproduction.json's block when given) and results/protocol.html
    from their JSON (either may be absent)."""
    rep = json.loads(Path(protocol_json).read_text()) if protocol_json and Path(protocol_json).is_file() else None
    repro = (json.loads(Path(reproduction_json).read_text())
             if reproduction_json and Path(reproduction_json).is_file() else None)
    if claims_html:
        if not claims_json or not Path(claims_json).is_file():
            raise FileNotFoundError(f"{claims_json}: no claims to render; run the `claims` rule first")
        Path(claims_html).write_text(claims_page(json.loads(Path(claims_json).read_text()), rep, repro))
    if protocol_html:
        if rep is None:
            raise FileNotFoundError(f"{protocol_json}: no protocol report to render; run the `protocol` rule first")
        Path(protocol_html).write_text(protocol_page(rep))


# --- the result files' Markdown (summary.md), rendered by markdown-it ---

def markdown_body(text: str) -> str:
    """Markdown (CommonMark and pipe tables) as HTML, each heading one level down (the page's title is its h1)."""
    tokens = MARKDOWN.parse(text)
    for t in tokens:
        if t.type in ("heading_open", "heading_close"):
            t.tag = f"h{min(int(t.tag[1]) + 1, 6)}"
    return soft_breaks(MARKDOWN.renderer.render(tokens, MARKDOWN.options, {}))


def markdown_page(text: str, title: str) -> str:
    return page(title, markdown_body(text))
