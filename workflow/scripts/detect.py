from superweight.scoring.data import checksums, corpus_text, job_data_dir
from superweight.detect.spikes import SpikeRule, detect_model
from superweight.detect.used import KnownCoordinateError
from superweight.models.load import load_model
from superweight.provenance import Provenance, write_json
from superweight.settings import Detection, Model
from superweight.workflow.runlog import start

log = start(snakemake)
det, mcfg = Detection.from_dict(snakemake.params.detection), snakemake.params.model
conf = det.confirm
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
prov = Provenance(snakemake.wildcards.model, None, {"detection": snakemake.params.detection, "model": mcfg},
                  checksums(data_dir, [conf.corpus]))
model, tok = load_model(snakemake.input.model, Model.from_dict(mcfg).dtype, snakemake.params.device)
try:
    summary, layers, residual = detect_model(
        model, tok, corpus_text(conf.corpus, data_dir), det.prompt,
        SpikeRule(det.rule, threshold=det.threshold, ratio=det.ratio, column=det.column), det.max_iters,
        conf.factor, conf.seqlen, conf.windows, known=snakemake.params.known, mode=conf.mode,
        batch_size=conf.batch_size, use=det.use, known_key=f"models.{snakemake.wildcards.model}.super_weights",
        corpus=conf.corpus)
except KnownCoordinateError as e:
    log.error("%s", e)
    raise SystemExit(f"error: {e}")
summary["provenance"] = prov.record()
write_json(snakemake.output.json, summary)
import pandas as pd  # here, not at the top: the model's first forward does not wait for pandas
pd.DataFrame(layers).to_csv(snakemake.output.layers, index=False)
pd.DataFrame(residual).to_csv(snakemake.output.residual, index=False)
log.info("%s: confirmed on %s", snakemake.wildcards.model, summary["confirmed_on"])
log.info("%s: %s %s; experiments use (%s) %s", snakemake.wildcards.model, summary["status"],
         [(c["layer"], c["row"], c["col"]) for c in summary["super_weights"]], det.use,
         [(c["layer"], c["row"], c["col"]) for c in summary["used"]])
