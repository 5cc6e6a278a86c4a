from pathlib import Path

from superweight.workflow.runlog import start
from superweight.report.summary import run_summary

log = start(snakemake)
files = {}
for f in snakemake.input:
    model = Path(f).parts[1]  # results/{model}/...
    key = "detect" if f.endswith("super_weights.json") else Path(f).parent.name  # ablation/{condition}/scores.json
    files.setdefault(model, {})[key] = f
Path(snakemake.output[0]).write_text(run_summary(files))
log.info("wrote %s for %d model(s)", snakemake.output[0], len(files))
