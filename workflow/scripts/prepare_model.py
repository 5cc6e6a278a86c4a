import sys

from superweight.workflow.config import ConfigError, check_positions
from superweight.models.load import ModelSpec, prepare_model
from superweight.workflow.runlog import one_line_errors, start
from superweight.models.sources import shape_from_config_json

log = start(snakemake)
cfg = snakemake.params.model
with one_line_errors(log, f"models.{snakemake.wildcards.model}"):
    out = prepare_model(ModelSpec.from_config(cfg), snakemake.output[0], dtype=cfg.get("dtype", "float32"))
log.info("prepared %s -> %s", cfg["id"], out)
# a Hub model's positions are known only now: a window longer than them stops here, before any job loads it
# (read from snakemake.config, not params, so that editing a window length does not rerun this job)
try:
    check_positions(snakemake.config, snakemake.wildcards.model, shape_from_config_json(out / "config.json").positions,
                    str(out / "config.json"))
except ConfigError as e:
    log.error("config error: %s", e)
    print(f"config error: {e}", file=sys.__stderr__)
    sys.exit(1)
