"""Scores of an experiment that leaves the model as it is (scaling x1, W8A8 fp): the ablation's original scores,
for this experiment's corpora and tasks, with ``reused_from`` naming the file they come from."""
import _common  # noqa: F401
from pathlib import Path

from superweight.data import checksums
from superweight.experiments import NotApplicable, identity
from superweight.detect import used_super_weights
from superweight.provenance import Provenance, read_json, write_json
from superweight.runlog import start
from superweight.scoring import restrict

log = start(snakemake)
wc, p = snakemake.wildcards, snakemake.params
kind, spec = p.kind, dict(p.spec)
label = " ".join(f"{k}={v}" for k, v in spec.items())
data_dir = Path(p.data_dir) if p.data_dir else None
prov = Provenance(wc.model, label, {**p.cfg, "model": p.model}, checksums(data_dir, p.corpora + p.cfg["eval"]["tasks"]))
out = {"model": wc.model, "kind": kind, **spec}
sws = used_super_weights(snakemake.input.detect)
source = read_json(snakemake.input.scores)
try:
    record = identity(kind, spec, sws)
except NotApplicable as e:
    log.warning("%s %s: not applicable: %s", wc.model, label, e)
    write_json(snakemake.output[0], {**out, "status": "skipped", "reason": str(e), "provenance": prov.record()})
    raise SystemExit(0)
if record is None or source.get("status") != "done":
    raise SystemExit(f"{kind} {label} cannot reuse {snakemake.input.scores} (status {source.get('status')})")
scores = restrict(source["scores"], p.corpora, p.cfg["eval"]["tasks"])
log.info("%s %s: the unmodified model; scores read from %s, not recomputed", wc.model, label, snakemake.input.scores)
write_json(snakemake.output[0], {**out, "status": "done", "intervention": record, "scores": scores,
                                 "reused_from": snakemake.input.scores, "provenance": prov.record()})
