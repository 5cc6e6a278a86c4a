"""Score one experiment (ablation condition, scaling factor, weight or activation quantization)."""
import contextlib
import json
from pathlib import Path

import torch

from superweight.scoring.data import checksums
from superweight.detect.used import used_super_weights
from superweight.workflow.experiments import NotApplicable, apply, eval_backend
from superweight.models.load import load_model
from superweight.provenance import Provenance, write_json
from superweight.workflow.runlog import start
from superweight.scoring.looks import compared
from superweight.scoring.score import score, score_sequential, scored_tasks

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
    args = (model, tok, scored, p.cfg["perplexity"], scored_tasks(ev["tasks"], ev["limit"]),
            Path(snakemake.input.tasks) if data_dir else None)
    kw = dict(eval_batch_size=ev["batch_size"], device=p.device, add_bos_token=ev.get("add_bos_token", False),
              backend=eval_backend(kind, spec, p.cfg))
    # sequential scoring (config `sequential`): the conditions this one is compared with, scored before it
    refs = {Path(f).parent.name: json.loads(Path(f).read_text()) for f in getattr(snakemake.input, "references", [])}
    refs = {k: r["scores"] for k, r in refs.items() if r.get("status") == "done"}
    seq = p.cfg.get("sequential")
    parts = compared(seq, spec.get("condition", ""))
    scores = score_sequential(*args, seq, refs, **kw, parts=parts) if seq and refs else score(*args, **kw)
write_json(snakemake.output[0], {**out, "status": "done", "intervention": record, "scores": scores,
                                 "provenance": prov.record()})
