"""The report's landing page (workflow/report/workflow.rst) and the run summary it falls back to."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # docutils' writer_name, as Snakemake
REPO = Path(__file__).resolve().parents[1]


def render(files, config):
    """The landing page as Snakemake renders it: Jinja2 (snakemake.config, files), then docutils to HTML."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    text = (REPO / "workflow/report/workflow.rst").read_text()
    text += "\n.. _Workflow: javascript:show_panel('workflow')\n.. _Statistics: javascript:show_panel('statistics')\n"
    rst = Environment(trim_blocks=True, lstrip_blocks=True).from_string(text).render(
        snakemake=SimpleNamespace(config=config), categories={}, files=files)
    return publish_parts(rst, writer_name="html", settings_overrides={"report_level": 2, "halt_level": 2})["html_body"]


CONFIG = {"models": {"smollm2-135m": {}}, "device": "cpu"}


def _rec(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return SimpleNamespace(path=path)


def _pages(tmp_path, verdicts=None, evidence="ppl ratio 123.4 [98.1, 150.2] (95% CI, n=4); needs >= 10: holds"):
    """claims.json of two models (every registered claim; some verdicts set as issue 19 writes them), a
    protocol.json with a departure and a section this renderer does not know, and the pages rendered from them."""
    from superweight.report.claims import write
    from superweight.report.claims_evaluate import evaluate_model
    from superweight.report.html import write_pages

    models = ["smollm2-135m", "tiny-model"]
    rows = [r for m in models for r in evaluate_model(m, {})]
    for (i, v) in enumerate(verdicts or ["holds (paper strength)", "fails", "inconclusive", "not applicable: not run"]):
        rows[i]["verdict"] = v
        rows[i]["evidence"] = evidence
        rows[i]["estimates"] = {"ppl_ratio": {"value": 123.4, "lo": 98.1, "hi": 150.2, "n": 4, "level": 0.95,
                                              "method": "paired t"}}
    rows[0]["new_key"] = "NEW-KEY-VALUE"
    write(rows, models, tmp_path / "claims")
    rep = {"paper": "The Super Weight", "models": models,
           "settings": [{"key": "perplexity.seqlen", "value": 512, "paper": 2048, "has_paper_value": True,
                         "status": "differs", "source": "GPTQ", "note": "", "official_option": None},
                        {"key": "eval.tasks", "value": ["piqa"], "paper": ["piqa"], "has_paper_value": True,
                         "status": "same", "source": "Table 1", "note": "", "official_option": None}],
           "differs": ["perplexity.seqlen"], "not_set": [],
           "facts": [{"fact": "C4 validation", "status": "differs", "note": "a 2,000-document sample"}],
           "sizes": [{"experiment": "ablation", "this run": "50 docs", "paper": "full"}]}
    (tmp_path / "protocol.json").write_text(json.dumps(rep))
    write_pages(tmp_path / "claims.json", tmp_path / "protocol.json", tmp_path / "claims.html",
                tmp_path / "protocol.html")
    return rows, models


def _links_resolve(html):
    """Every in-page link (#id) names an element of the page."""
    import re

    ids = set(re.findall(r' id="([^"]+)"', html))
    hrefs = set(re.findall(r' href="#([^"]+)"', html))
    assert hrefs and hrefs <= ids, sorted(hrefs - ids)
    return hrefs


def _cell(matrix: str, r: dict) -> dict:
    """A matrix cell as shown: its kind, its short verdict, its whole verdict (in <details>, or the short one when
    that is the whole), the detail it links to."""
    import re

    href = f"#sw-{r['claim']}--{r['model']}"
    cell = next((c for c in re.findall(r"<td>(.*?)</td>", matrix, re.S) if f'href="{href}"' in c), "")
    m = (re.fullmatch(rf'<details class="sw-cell"><summary><span class="sw-v ([\w-]+)">([^<]*)</span></summary>'
                      rf'<span class="sw-full">(.*) <a href="{href}">evidence</a></span></details>', cell, re.S)
         or re.fullmatch(rf'<a class="sw-v ([\w-]+)" href="{href}">(([^<]*))</a>', cell))
    assert m, f"no verdict cell for {href}"
    return {"kind": m.group(1), "short": m.group(2), "full": m.group(3)}


def test_landing_page_is_the_rendered_verdict_matrix_then_the_protocol(tmp_path):
    from superweight.report.html import short_verdict, verdict_kind

    rows, models = _pages(tmp_path, ["holds (paper strength)", "fails", "inconclusive (n = 16: no n was measured)",
                                     "not applicable: not run", "holds (direction; the paper gives no number)"])
    summary = _rec(tmp_path / "summary.md", "# Run summary\nSUMMARY-TEXT\n")
    files = [summary, SimpleNamespace(path=tmp_path / "protocol.html"), SimpleNamespace(path=tmp_path / "claims.html")]
    html = render(files, CONFIG).replace("<wbr>", "")  # line-break hints inside long tokens
    assert "System Message" not in html and "SUMMARY-TEXT" not in html
    matrix = html[html.index('class="sw-matrix"'):html.index("</table>", html.index('class="sw-matrix"'))]
    for r in rows:  # every claim x model in the matrix: its short verdict, the whole one a click away, a link
        assert f'<code>{r["claim"]}</code>' in matrix
        cell = _cell(matrix, r)
        assert cell["short"] == short_verdict(r["verdict"]) and "…" not in cell["short"], cell
        assert cell["full"] == r["verdict"] and cell["kind"] == verdict_kind(r["verdict"]), cell
    for m in models:
        assert f"<th>{m}</th>" in matrix
    assert _cell(matrix, rows[0])["short"] == "holds · paper strength"  # the strength mark beside the kind
    assert 'class="sw-v sw-fails"' in matrix and 'class="sw-v sw-inconclusive"' in matrix
    assert 'class="sw-v sw-na"' in matrix
    _links_resolve(html)
    detail = html[html.index(f'id="sw-{rows[0]["claim"]}--{rows[0]["model"]}"'):]
    assert "[98.1, 150.2]" in detail and "n=4" in detail and "paired t" in detail and "NEW-KEY-VALUE" in detail
    # the departures follow the claims; the full settings table is in protocol.html only
    assert html.index("sw-matrix") < html.index("perplexity.seqlen") and "eval.tasks" not in html
    assert "a 2,000-document sample" in html
    assert "How to read the verdicts" in html and "smollm2-135m" in html


def test_a_long_evidence_still_renders_in_snakemakes_report(tmp_path):
    """docutils drops a raw block with a line over 10,000 characters (the CI scenario's prune_sw evidence reached
    10,369): the claims page keeps one evidence item per line, and the landing page renders in full."""
    item = ("wikitext2 ppl ratio 2018 [1272, 2697] (99.7% CI, n=16) [exact sign test of the median window on paired "
            "window log-differences]; direction needs > 1: holds; paper: the text's x1000 not graded (a median-window "
            "estimate: the paper's number is a corpus ratio; grading needs 48 windows)")
    _pages(tmp_path, evidence="; ".join([item] * 60))  # ~19,000 characters of evidence for one model
    assert max(map(len, (tmp_path / "claims.html").read_text().splitlines())) < 10_000
    from superweight.report.html import claims_page

    verdict = "holds (direction; " + "; ".join([item] * 10) + ")"  # a matrix row of 8 models' whole verdicts
    many = {"models": [f"m{i}" for i in range(8)], "claims": [{"claim": "c", "model": f"m{i}", "verdict": verdict}
                                                             for i in range(8)]}
    assert len(verdict) * 8 > 20_000 and max(map(len, claims_page(many).splitlines())) < 10_000
    from superweight.report.html import protocol_body, page

    rows = [{"key": f"setting.{i}", "value": "x" * 300, "paper": "y" * 300, "status": "differs", "source": "s",
             "note": "n" * 300, "official_option": None} for i in range(40)]  # a 40-row departures table
    body = protocol_body({"settings": rows, "differs": [r["key"] for r in rows], "not_set": []})
    assert max(map(len, page("t", body).splitlines())) < 10_000
    html = render([SimpleNamespace(path=tmp_path / "claims.html")], CONFIG)
    assert "Super weights: a reproduction" in html and 'class="sw-matrix"' in html and "System Message" not in html


def test_standalone_pages_read_without_snakemake(tmp_path):
    _pages(tmp_path)
    claims = (tmp_path / "claims.html").read_text()
    protocol = (tmp_path / "protocol.html").read_text().replace("<wbr>", "")
    for page in (claims, protocol):
        assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "<script" not in page
    _links_resolve(claims)
    # protocol.html: departures first, then every setting, every fact and the section it does not know
    assert protocol.index("perplexity.seqlen") < protocol.index("eval.tasks")
    assert "2,000-document sample" in protocol and "50 docs" in protocol and "sizes" in protocol


def test_long_tokens_may_break_but_tags_and_short_words_stay():
    from superweight.report.html import soft_breaks

    assert soft_breaks('<a href="x/y_z.html">results/smollm2-135m/ablation/scores.json</a> a_b 98.1') == (
        '<a href="x/y_z.html">results/<wbr>smollm2-135m/<wbr>ablation/<wbr>scores.<wbr>json</a> a_b 98.1')


def test_pages_render_records_of_shapes_they_do_not_know():
    """protocol.json and claims.json may gain keys and sections (issues 19, 20): shown as they are, never an error."""
    from superweight.report.html import claims_page, protocol_page

    rep = {"paper": "P", "models": ["m"], "differs": {"a.b": "x"}, "not_set": [{"k": 1}], "facts": [],
           "settings": [{"key": "a.b", "value": 1, "paper": 2, "has_paper_value": True, "status": "differs",
                         "source": "s", "why": "NEW-COLUMN"}],
           "sizes": {"ablation": {"docs": 50}}, "extra": [1, 2], "flag": True}
    page = protocol_page(rep)
    assert "NEW-COLUMN" in page and "<h3>extra</h3>" in page
    assert "<h3>sizes</h3>" in page and "{&quot;docs&quot;: 50}" in page
    assert "sw-matrix" in claims_page({"claims": []}, rep)
    one = {"models": ["m"], "claims": [{"claim": "c", "model": "m", "verdict": None}]}
    assert '">–</a>' in claims_page(one)


def test_a_matrix_cell_shows_the_verdicts_kind_and_strength_mark():
    """The matrix shows what a verdict is (kind, and for a hold its strength grade), never a verdict cut short."""
    from superweight.report.html import short_verdict

    assert short_verdict("holds (paper strength)") == "holds · paper strength"
    assert short_verdict("holds (paper strength; all 2 known coordinates found)") == "holds · paper strength"
    assert short_verdict("holds (direction; accuracy at or below chance on 0 of 7 tasks)") == "holds · direction"
    assert short_verdict("holds (one deterministic pass; the paper gives no number)") == "holds"
    assert short_verdict("fails (descriptive, one prompt: x0.765)") == "fails" and short_verdict("fails") == "fails"
    assert short_verdict("inconclusive (n = 16: no n was measured)") == "inconclusive"
    assert short_verdict("not applicable: not run (x.json)") == "not applicable"
    assert short_verdict("Not applicable (no known coordinates)") == "not applicable"
    assert short_verdict("something new (x)") == "something new" and short_verdict(None) == "–"


def test_a_wide_table_is_split_into_parts_that_keep_its_keys():
    """Table 1 (19 columns) is shown as two tables: the accuracies (± SE), then the intervals and counts, each led
    by model and condition; a table of 15 columns besides its keys stays one."""
    import pandas as pd

    from superweight.report.html_tables import column_parts, table_page

    acc = ["ARC-c", "ARC-e", "HellaSwag", "LAMBADA", "PIQA", "SciQ", "Winogrande", "avg"]
    ppl = ["C4 ppl", "Wiki-2 ppl", "Δ avg vs original", "Wiki-2 ppl ×original", "C4 ppl ×original"]
    rest = ["docs/task", "windows", "source", "note"]
    row = {"model": "m", "condition": "prune_sw", **{c: "26.00 ± 6.20" for c in acc},
           **{c: "42.08 [31.13, 55.29]" for c in ppl}, "docs/task": 50, "windows": 16, "source": "this run", "note": ""}
    df = pd.DataFrame([row, {**row, "condition": "original"}])
    assert column_parts(df) == [["model", "condition", *acc], ["model", "condition", *ppl, *rest]]
    page = table_page(df, "Table 1: ablation")
    assert page.count("<table") == 2 and page.count("<th>model</th>") == 2 and page.count("<tr>") == 2 * 3
    narrow = df[["model", "condition", *acc, *ppl[:2]]]
    assert column_parts(narrow) == [list(narrow.columns)]
    many = pd.DataFrame([{f"c{i}": i for i in range(25)}])  # no keys, one shape: parts of at most 10
    assert [len(p) for p in column_parts(many)] == [10, 10, 5]


def test_markdown_pages_are_rendered_by_a_markdown_library():
    """summary.md (and any Markdown page) goes through markdown-it: CommonMark and pipe tables, raw HTML escaped;
    html.py holds no Markdown parsing of its own (no pipe-row or heading regex)."""
    import re

    from superweight.report.html import markdown_body

    md = ("# Run *summary*\n\n1. first\n2. second\n\n| a | b |\n|:--|--:|\n| `x` | <b>1</b> |\n\n"
          "text with **bold** and `results/a_b.json`\n")
    body = markdown_body(md).replace("<wbr>", "")
    assert "<h2>Run <em>summary</em></h2>" in body  # each heading one level down: the page's own title is h1
    assert "<ol>" in body and "<li>first</li>" in body  # an ordered list, which a hand-written subset missed
    assert "&lt;b&gt;1&lt;/b&gt;" in body and "<b>1</b>" not in body  # raw HTML escaped
    assert '<th style="text-align:left">a</th>' in body and "<strong>bold</strong>" in body
    assert "<code>results/a_b.json</code>" in body
    for module in ("html", "html_tables"):
        src = (REPO / f"src/superweight/report/{module}.py").read_text()
        assert not re.search(r"""\\\||#\{1,6\}|\\\*\\\*|`\(""", src), f"{module}.py parses Markdown by hand"


def test_verdicts_are_coloured_by_their_first_words():
    from superweight.report.html import verdict_kind

    assert verdict_kind("holds (paper strength)") == "sw-holds"
    assert verdict_kind("fails") == "sw-fails" and verdict_kind("Inconclusive (n too small)") == "sw-inconclusive"
    assert verdict_kind("not applicable: not run (x.json)") == "sw-na"
    assert verdict_kind("something new") == "sw-other" and verdict_kind(None) == "sw-other"


def test_landing_page_falls_back_to_the_run_summary(tmp_path):
    from superweight.report.html import markdown_page

    md = "# Run summary\nSUMMARY-TEXT\n\n| model | ppl |\n|---|---|\n| m | 1 \\| 2 |\n"
    summary = _rec(tmp_path / "summary.html", markdown_page(md, "Run summary"))
    other = _rec(tmp_path / "table5.html", "TABLE5\n")
    html = render([other, summary], CONFIG)
    assert "SUMMARY-TEXT" in html and "TABLE5" not in html and "System Message" not in html
    assert "<td>1 | 2</td>" in html  # a markdown table rendered as a table
    assert "smollm2-135m" in render([], CONFIG)  # nothing rendered yet: the page still builds


def test_tables_are_written_as_html_beside_csv_md_and_tex(tmp_path):
    import pandas as pd

    from superweight.report.tables import write_table

    df = pd.DataFrame({"model": ["m", "m"], "condition": ["original", "prune_sw"], "avg": [60.0, 30.0],
                       "avg se": [1.5, 2.0], "Wiki-2 ppl": [12.0, 3000.0], "Wiki-2 ppl lo": [11.0, 2500.0],
                       "Wiki-2 ppl hi": [13.0, 3500.0], "note": ["", "1 super weight(s) <zeroed>"]})
    paths = write_table(df, tmp_path / "t1", "Table 1: ablation")
    assert {p.suffix for p in paths} == {".csv", ".md", ".tex", ".html"} and all(p.is_file() for p in paths)
    html = (tmp_path / "t1.html").read_text()
    assert html.count("<tr>") == 1 + len(df)  # header + one row per result
    assert "<td class=\"num\">60.00 ±\u00a01.50</td>" in html  # may wrap before its SE, not inside "± SE" and "3000.00 [2500.00, 3500.00]" in html
    assert "&lt;zeroed&gt;" in html and "Table 1: ablation" in html


def test_run_summary_from_result_files(tmp_path):
    from superweight.report.summary import run_summary

    det = tmp_path / "sw.json"
    det.write_text(json.dumps({"status": "confirmed super weight", "candidates": [{}, {}],
                               "super_weights": [{"layer": 2, "row": 507, "col": 430, "ppl_ratio": 123.4}],
                               "known": [{"layer": 2, "row": 507, "col": 430, "status": "found"}]}))
    sc = {}
    for cond, ppl in (("original", 12.5), ("prune_sw", 3456.0)):
        sc[cond] = tmp_path / f"{cond}.json"
        sc[cond].write_text(json.dumps({"scores": {"perplexity": {"wikitext2": {"ppl": ppl}}}}))
    md = run_summary({"m": {"detect": det, **sc}, "n": {"detect": det}})
    rows = [line for line in md.splitlines() if line.startswith("| m ") or line.startswith("| n ")]
    assert rows[0] == ("| m | confirmed super weight (2 candidate(s)) | [2, 507, 430] (x123) | [2, 507, 430] found "
                       "| 12.5 → 3456.0 |")
    assert rows[1].endswith("| not scored |")


def test_each_table_is_in_the_report_once():
    import re

    text = "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    reported = re.findall(r'report\(\s*"(results/tables/[^"]+)"', text)
    assert reported and all(p.endswith(".html") for p in reported), reported  # rendered tables, not markdown
    assert not re.search(r'report\(\s*multiext\("results/tables', text)  # not csv, md and tex each
    assert 'category="Table 6' in text and "../report/table6.rst" in text
