"""Score one experiment (ablation condition, scaling factor, weight or activation quantization), or each of a
sweep's settings in turn (params.experiments: [scores.json, spec] pairs), the model loaded afresh for each."""
import contextlib
import gc
import json
from pathlib import Path

import torch

from superweight.scoring.data import checksums, job_data_dir
from superweight.detect.used import used_super_weights
from superweight.analysis.experiments import apply
from superweight.interventions.applicability import NotApplicable
from superweight.scoring.backends import eval_backend
from superweight.models.load import load_model
from superweight.provenance import Provenance, result_record, write_json
from superweight.workflow.runlog import start
from superweight.scoring.looks import compared
from superweight.scoring.limits import scored_tasks
from superweight.scoring.score import score, score_sequential
from superweight.settings import JobSettings, Model

log = start(snakemake)
wc, p = snakemake.wildcards, snakemake.params
job = JobSettings.from_dict(p.cfg)  # this job's sections; `eval.limit` already resolved for its kind
kind = p.kind
dtype = Model.from_dict(p.model).dtype
experiments = getattr(p, "experiments", None) or [[snakemake.output[0], p.spec]]
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
corpora = {Path(f).stem: f for f in snakemake.input.corpora}
sws = used_super_weights(snakemake.input.detect)
ids = {k: torch.load(f) for k, f in corpora.items()}
# each article's first token (tokenize_corpus), so each window records the article it falls in
articles = {Path(f).stem: json.loads(Path(f).read_text()).get("article_starts")
            for f in snakemake.input.corpus_info}
cal = getattr(snakemake.input, "calibration", None)  # SmoothQuant's samples (rule smoothquant_calibration)
calibration = torch.load(str(cal)) if cal else None
# sequential scoring (config `sequential`): the conditions this one is compared with, scored before it
refs = {Path(f).parent.name: json.loads(Path(f).read_text()) for f in getattr(snakemake.input, "references", [])}
refs = {k: r["scores"] for k, r in refs.items() if r.get("status") == "done"}


def score_setting(path, spec):
    """Load the model, change it as ``spec`` says, score it and write ``path``; nothing of it outlives the call."""
    label = " ".join(f"{k}={v}" for k, v in spec.items())
    prov = Provenance(wc.model, label, {**p.cfg, "model": p.model},
                      checksums(data_dir, list(corpora) + list(job.eval.tasks)))
    out = {"kind": kind, **spec}
    model, tok = load_model(snakemake.input.model, dtype, p.device)
    with contextlib.ExitStack() as stack:
        try:
            record = apply(model, kind, spec, sws, job, stack, ids, calibration)
        except NotApplicable as e:
            log.warning("%s %s: not applicable: %s", wc.model, label, e)
            write_json(path, result_record(wc.model, prov, str(e), **out))
            return
        scored = {k: ids[k] for k in p.corpora}
        ev, seq = job.eval, job.sequential
        args = (model, tok, scored, job.perplexity, scored_tasks(ev.tasks, ev.limit),
                Path(snakemake.input.tasks) if data_dir else None)
        backend = eval_backend(kind, spec, ev.backend, job.ablation.restore_tokens if job.ablation else None)
        kw = dict(eval_batch_size=ev.batch_size, device=p.device, add_bos_token=ev.add_bos_token, backend=backend,
                  articles={k: articles[k] for k in p.corpora})
        parts = compared(seq.compare if seq else None, spec.get("condition", ""))
        scores = score_sequential(*args, seq, refs, **kw, parts=parts) if seq and refs else score(*args, **kw)
    write_json(path, result_record(wc.model, prov, **out, intervention=record, scores=scores))


for i, (path, spec) in enumerate(experiments):
    if len(experiments) > 1:
        log.info("setting %d of %d: %s -> %s", i + 1, len(experiments), " ".join(f"{k}={v}" for k, v in spec.items()),
                 path)
    score_setting(path, dict(spec))
    gc.collect()  # the setting's model is freed before the next one is loaded
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
