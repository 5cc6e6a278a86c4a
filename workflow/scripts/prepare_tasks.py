from pathlib import Path

from superweight.scoring.data import job_data_dir
from superweight.scoring.zeroshot import materialize_tasks
from superweight.workflow.runlog import one_line_errors, start

log = start(snakemake)
out = Path(snakemake.output[0])
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
if data_dir is None:
    out.mkdir(parents=True, exist_ok=True)  # empty: lm-eval's built-in tasks from the Hub
    log.info("no data_dir: evaluation uses lm-eval's built-in tasks")
else:
    with one_line_errors(log, "data_dir"):  # a task file that cannot be read: one line naming it
        materialize_tasks(data_dir, out, snakemake.params.tasks)
    log.info("wrote local tasks %s to %s", snakemake.params.tasks, out)
