import _common  # noqa: F401
import torch

from superweight.detect import used_super_weights
from superweight.experiments import calibration_ids
from superweight.load import load_model
from superweight.provenance import Provenance, write_json
from superweight.quantize import tune_z
from superweight.runlog import start

log = start(snakemake)
p, wc = snakemake.params, snakemake.wildcards
prov = Provenance(wc.model, f"tune z int{wc.bits} block{wc.block}", {"weights": p.weights, "seqlen": p.seqlen})
sws = used_super_weights(snakemake.input.detect)
windows = 4
ids = calibration_ids(torch.load(snakemake.input.corpora), p.seqlen, windows)
result = tune_z(lambda: load_model(snakemake.input.model, p.model.get("dtype", "float32"), p.device)[0], ids,
                p.seqlen, windows, int(wc.bits), wc.block, p.weights["z_candidates"], sws)
write_json(snakemake.output[0], {**result, "calibration": "end of the C4 sample", "tokens": len(ids),
                                 "provenance": prov.record()})
log.info("best z %g", result["z"])
