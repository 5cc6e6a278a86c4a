"""Scores of an experiment whose model is an ablation condition's (scaling x1 and W8A8 fp: the original; scaling x0:
prune_sw), read from that condition's scores for this experiment's corpora, tasks and documents, with
``reused_from`` naming the file they come from."""

from superweight.scoring.data import checksums, job_data_dir
from superweight.detect.used import NONE_USED, used_super_weights
from superweight.interventions.applicability import same_model
from superweight.analysis.experiments import reused_record
from superweight.provenance import Provenance, read_json, result_record, write_json
from superweight.workflow.runlog import start
from superweight.scoring.limits import task_limits
from superweight.scoring.score import restrict
from superweight.settings import JobSettings

log = start(snakemake)
wc, p = snakemake.wildcards, snakemake.params
kind, spec = p.kind, dict(p.spec)
label = " ".join(f"{k}={v}" for k, v in spec.items())
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
ev = JobSettings.from_dict(p.cfg).eval  # this experiment's, `eval.limit` resolved for its kind
prov = Provenance(wc.model, label, {**p.cfg, "model": p.model}, checksums(data_dir, p.corpora + list(ev.tasks)))
out = {"kind": kind, **spec}
sws = used_super_weights(snakemake.input.detect)
source = read_json(snakemake.input.scores)
skipped = source.get("reason", "its source was skipped") if source.get("status") == "skipped" else None
if skipped is None and not sws and same_model(kind, spec) == "prune_sw":  # nothing to zero: reused_record refuses
    skipped = NONE_USED
if skipped is None:
    record = reused_record(kind, spec, sws, source.get("intervention", {}))
else:
    log.warning("%s %s: not applicable: %s", wc.model, label, skipped)
    write_json(snakemake.output[0], result_record(wc.model, prov, skipped, **out))
    raise SystemExit(0)
if source.get("status") != "done":
    raise SystemExit(f"{kind} {label} cannot reuse {snakemake.input.scores} (status {source.get('status')})")
scores = restrict(source["scores"], p.corpora, list(ev.tasks), task_limits(ev.tasks, ev.limit))
for t, v in scores["tasks"].items():
    if v.get("subset_of") is not None:
        log.info("%s: the first %s of the %s documents scored there: acc %.4f (n=%d)", t, v["limit"], v["subset_of"],
                 v["acc"], v["n"])
log.info("%s %s: the same model as %s; scores read from it, not recomputed", wc.model, label, snakemake.input.scores)
write_json(snakemake.output[0], result_record(wc.model, prov, **out, intervention=record, scores=scores,
                                              reused_from=snakemake.input.scores))
