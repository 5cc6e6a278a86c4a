import _common  # noqa: F401
import contextlib
from pathlib import Path

import torch

from superweight.ablation import NEEDS_SW, apply_condition
from superweight.intervene import scale_weights
from superweight.data import checksums
from superweight.load import load_model
from superweight.provenance import Provenance, read_json, write_json
from superweight.runlog import start
from superweight.scoring import score, task_limits

log = start(snakemake)
wc, p = snakemake.wildcards, snakemake.params
factor = float(wc.factor) if "factor" in wc.keys() else None  # rule score_scaled
condition = wc.condition if factor is None else f"scale x{wc.factor}"
data_dir = Path(p.data_dir) if p.data_dir else None
corpora = {Path(f).stem: f for f in snakemake.input.corpora}
prov = Provenance(wc.model, condition, {"perplexity": p.perplexity, "eval": p.eval, "ablation": p.ablation,
                                           "model": p.model}, checksums(data_dir, list(corpora) + p.eval["tasks"]))
detect = read_json(snakemake.input.detect)
sws = [(c["layer"], c["row"], c["col"]) for c in detect["super_weights"]]
if (factor is not None or condition in NEEDS_SW) and not sws:
    log.warning("%s: no confirmed super weight, %s is not applicable", wc.model, condition)
    write_json(snakemake.output[0], {"model": wc.model, "condition": condition, "factor": factor, "status": "skipped",
                                     "reason": "no confirmed super weight", "provenance": prov.record()})
    raise SystemExit(0)
model, tok = load_model(snakemake.input.model, p.model.get("dtype", "float32"), p.device)
task_dir = Path(snakemake.input.tasks) if data_dir else None
with contextlib.ExitStack() as stack:
    if factor is None:
        record = apply_condition(model, condition, sws, p.ablation["prune_nonsw"]["rule"],
                                 p.ablation["prune_nonsw"]["amount"], p.ablation["restore_tokens"], stack)
    else:
        record = {"condition": condition, "super_weights": [list(c) for c in sws],
                  "changed": scale_weights(model, sws, factor)}
    restore = record.pop("_restore", None)
    scores = score(model, tok, {k: torch.load(f) for k, f in corpora.items()}, p.perplexity,
                   task_limits(p.eval["tasks"], p.eval["limit"]), task_dir, p.eval["batch_size"], p.device)
    if restore is not None:
        record["restore"]["examples"] = restore.restored
write_json(snakemake.output[0], {"model": wc.model, "condition": condition, "factor": factor, "status": "done",
                                 "intervention": record, "scores": scores, "provenance": prov.record()})
