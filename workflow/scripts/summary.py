from pathlib import Path

from superweight import paths
from superweight.workflow.runlog import start
from superweight.report.summary import run_summary

log = start(snakemake)
files = {}
for f in snakemake.input:
    model = Path(f).parts[1]  # results/{model}/...
    ablation = paths.fields("ablation", Path(f).relative_to("results", model).as_posix())  # else detection's
    files.setdefault(model, {})[ablation["condition"] if ablation else "detect"] = f
Path(snakemake.output[0]).write_text(run_summary(files))
log.info("wrote %s for %d model(s)", snakemake.output[0], len(files))
