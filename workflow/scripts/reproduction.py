"""results/reproduction.{json,csv,md}: each number the paper prints for a run's paper model, marked reproduced /
not reproduced / undecided (superweight.report.reproduce)."""
from pathlib import Path

from superweight.report.claims_evaluate import model_files
from superweight.report.reproduce_render import landing_markdown, write
from superweight.report.reproduce_rows import evaluate, paper_entries
from superweight.settings import Stats
from superweight.workflow.runlog import start

log = start(snakemake)
p = snakemake.params
inputs = list(snakemake.input)
paper = paper_entries({m: p.model_cfg[m] for m in p.models}, snakemake.input.paper_results)
data = evaluate(list(p.models), {m: model_files(Path("results"), m, inputs) for m in p.models}, paper,
                1 - Stats.from_dict(p.stats).level)
write(data, Path(snakemake.output[0]).with_suffix(""))
log.info("%s", landing_markdown(data))
