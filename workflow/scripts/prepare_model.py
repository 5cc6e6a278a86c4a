import _common  # noqa: F401
from superweight.load import ModelSpec, prepare_model
from superweight.runlog import start

log = start(snakemake)
cfg = snakemake.params.model
out = prepare_model(ModelSpec.from_config(cfg), snakemake.output[0], dtype=cfg.get("dtype", "float32"))
log.info("prepared %s -> %s", cfg["id"], out)
