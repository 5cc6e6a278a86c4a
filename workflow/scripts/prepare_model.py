import sys

from superweight.workflow.config import ConfigError, check_positions
from superweight.models.load import ModelSpec, prepare_model
from superweight.workflow.runlog import one_line_errors, start
from superweight.models.sources import shape_from_config_json
from superweight.settings import Model

log = start(snakemake)
cfg = snakemake.params.model
# `package`: the packaged GGUF's name, kept beside its resolved path (common.smk's prepare_cfg) for the record
m = Model.from_dict({k: v for k, v in cfg.items() if k != "package"})
with one_line_errors(log, f"models.{snakemake.wildcards.model}"):
    out = prepare_model(ModelSpec(m.source, m.id, m.file, m.revision), snakemake.output[0], dtype=m.dtype)
log.info("prepared %s -> %s", m.id, out)
# a Hub model's positions are known only now: a window longer than them stops here, before any job loads it
# (read from snakemake.config, not params, so that editing a window length does not rerun this job)
try:
    check_positions(snakemake.config, snakemake.wildcards.model, shape_from_config_json(out / "config.json").positions,
                    str(out / "config.json"))
except ConfigError as e:
    log.error("config error: %s", e)
    print(f"config error: {e}", file=sys.__stderr__)
    sys.exit(1)
