"""Score one experiment (ablation condition, scaling factor, weight or activation quantization)."""
import contextlib
from pathlib import Path

import torch

from superweight.scoring.data import checksums
from superweight.detect.spikes import used_super_weights
from superweight.interventions.experiments import NotApplicable, apply, eval_backend
from superweight.models.load import load_model
from superweight.provenance import Provenance, write_json
from superweight.workflow.runlog import start
from superweight.scoring.score import score, task_limits

log = start(snakemake)
wc, p = snakemake.wildcards, snakemake.params
kind, spec = p.kind, dict(p.spec)
label = " ".join(f"{k}={v}" for k, v in spec.items())
data_dir = Path(p.data_dir) if p.data_dir else None
corpora = {Path(f).stem: f for f in snakemake.input.corpora}
prov = Provenance(wc.model, label, {**p.cfg, "model": p.model}, checksums(data_dir, list(corpora) + p.cfg["eval"]["tasks"]))
out = {"model": wc.model, "kind": kind, **spec}
sws = used_super_weights(snakemake.input.detect)
model, tok = load_model(snakemake.input.model, p.model.get("dtype", "float32"), p.device)
ids = {k: torch.load(f) for k, f in corpora.items()}
with contextlib.ExitStack() as stack:
    try:
        cal = getattr(snakemake.input, "calibration", None)  # SmoothQuant's samples (rule smoothquant_calibration)
        record = apply(model, kind, spec, sws, p.cfg, stack, ids, torch.load(str(cal)) if cal else None)
    except NotApplicable as e:
        log.warning("%s %s: not applicable: %s", wc.model, label, e)
        write_json(snakemake.output[0], {**out, "status": "skipped", "reason": str(e), "provenance": prov.record()})
        raise SystemExit(0)
    scored = {k: ids[k] for k in p.corpora}
    ev = p.cfg["eval"]
    scores = score(model, tok, scored, p.cfg["perplexity"], task_limits(ev["tasks"], ev["limit"]),
                   Path(snakemake.input.tasks) if data_dir else None, ev["batch_size"], p.device,
                   ev.get("add_bos_token", False), eval_backend(kind, spec, p.cfg))
write_json(snakemake.output[0], {**out, "status": "done", "intervention": record, "scores": scores,
                                 "provenance": prov.record()})
