"""The report's HTML pages: results/claims.html and results/protocol.html from their JSON, summary.html from
summary.md rendered by markdown-it (superweight.report.html)."""
from pathlib import Path

from superweight.report import html as report_html
from superweight.workflow.runlog import start

log = start(snakemake)
inp, out = snakemake.input, snakemake.output
if snakemake.rule == "claims_html":
    repro = getattr(inp, "reproduction", None)  # results/reproduction.json, when the rule names it
    report_html.write_pages(Path(inp.claims), Path(inp.protocol), claims_html=Path(out[0]),
                            reproduction_json=Path(repro) if repro else None)
elif snakemake.rule == "protocol_html":
    report_html.write_pages(None, Path(inp.protocol), protocol_html=Path(out[0]))
else:
    Path(out[0]).write_text(report_html.markdown_page(Path(inp[0]).read_text(), "Run summary"))
log.info("wrote %s", out[0])
