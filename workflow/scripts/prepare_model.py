import _common  # noqa: F401
from superweight.load import ModelSpec, prepare_model
from superweight.runlog import one_line_errors, start

log = start(snakemake)
cfg = snakemake.params.model
with one_line_errors(log, f"models.{snakemake.wildcards.model}"):
    out = prepare_model(ModelSpec.from_config(cfg), snakemake.output[0], dtype=cfg.get("dtype", "float32"))
log.info("prepared %s -> %s", cfg["id"], out)
