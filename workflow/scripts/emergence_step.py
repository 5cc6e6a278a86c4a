"""One training checkpoint of the emergence sweep: detection and the reference's super weights tracked."""

from superweight.scoring.data import checksums, corpus_text, job_data_dir
from superweight.detect.spikes import SpikeRule
from superweight.analysis.emergence import load_checkpoint, measure, step_of
from superweight.scoring.perplexity import tokenize
from superweight.provenance import Provenance, read_json, write_json
from superweight.settings import Emergence
from superweight.workflow.runlog import start

log = start(snakemake)
p = snakemake.params
em = Emergence.from_dict(p.cfg)
det, conf = em.detection, em.detection.confirm
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
prov = Provenance(f"{em.id}@{p.revision}", "emergence", p.cfg, checksums(data_dir, [em.corpus]))
track = None
if p.track == "reference":
    ref = read_json(snakemake.input.reference)
    track = [tuple(c) for c in ref["super_weights"]]
model, tok = load_checkpoint(em, p.revision, p.device)
text = tokenize(tok, corpus_text(em.corpus, data_dir))
rule = SpikeRule(det.rule, threshold=det.threshold, ratio=det.ratio, column=det.column)
res = measure(model, tok, text, det.prompt, rule, det.max_iters, conf.factor, conf.seqlen, conf.windows, track)
write_json(snakemake.output[0], {"revision": p.revision, "step": step_of(p.revision, em.steps), **res,
                                 "provenance": prov.record()})
log.info("%s: super weights %s; tracked ppl ratio %s", p.revision, res["super_weights"], res["ppl_ratio"])
