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


def test_landing_page_shows_claims_and_protocol_when_there(tmp_path):
    claims = _rec(tmp_path / "claims.md", "| claim | verdict |\n|---|---|\n| pruning destroys the model | holds |\n")
    protocol = _rec(tmp_path / "protocol.md", "| setting | this run | paper |\n|---|---|---|\n| seqlen | 512 | 2048 |\n")
    summary = _rec(tmp_path / "summary.md", "# Run summary\nSUMMARY-TEXT\n")
    html = render([summary, protocol, claims], CONFIG)
    assert "The paper&#x27;s claims on these models" in html or "The paper's claims on these models" in html
    assert "pruning destroys the model | holds" in html and "| seqlen | 512 | 2048 |" in html
    assert html.index("pruning destroys") < html.index("seqlen")  # claims first
    assert "SUMMARY-TEXT" not in html
    assert "smollm2-135m" in html


def test_landing_page_falls_back_to_the_run_summary(tmp_path):
    summary = _rec(tmp_path / "summary.md", "# Run summary\nSUMMARY-TEXT\n")
    other = _rec(tmp_path / "table5.md", "TABLE5\n")
    html = render([other, summary], CONFIG)
    assert "SUMMARY-TEXT" in html and "TABLE5" not in html and "System Message" not in html
    assert "smollm2-135m" in render([], CONFIG)  # nothing rendered yet: the page still builds


def test_run_summary_from_result_files(tmp_path):
    from superweight.summary import run_summary

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
    assert reported and all(p.endswith(".md") for p in reported), reported
    assert not re.search(r'report\(\s*multiext\("results/tables', text)  # not csv, md and tex each
    assert 'category="Table 6' in text and "../report/table6.rst" in text
