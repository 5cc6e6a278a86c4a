from pathlib import Path

from superweight.report.claims_evaluate import evaluate_model, model_files
from superweight.report.claims_render import render, write
from superweight.report.reproduce_rows import paper_entries
from superweight.settings import Stats
from superweight.workflow.runlog import start

log = start(snakemake)
p = snakemake.params
rows = []
level = Stats.from_dict(p.stats).level  # each model's family level (Holm)
# each paper model's own numbers (config/paper_results.yaml through its `paper:` key) grade its strength
paper = paper_entries({m: p.model_cfg[m] for m in p.models}, snakemake.input.paper_results)
for m in p.models:
    base = p.model_cfg[m]["base"]  # an instruct variant's base model (claim instruct_shares_base)
    files = model_files(Path("results"), m, list(snakemake.input), base)
    mine = evaluate_model(m, files, level, base=base, paper=paper[m],
                          paper_key=p.model_cfg[m]["paper"] or "")
    Path(f"results/{m}/claims.md").write_text(render(mine, [m]) + "\n")
    rows += mine
    log.info("%s: %s", m, {r["claim"]: r["verdict"] for r in mine})
write(rows, list(p.models), Path(snakemake.output[0]).with_suffix(""))
