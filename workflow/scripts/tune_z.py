"""z: auto — the clipping z with the lowest reconstruction error on calibration examples (superweight.quant.tune_z)."""

from transformers import AutoTokenizer

from superweight.quant.tune_z import calibration_examples, check_disjoint, tokenize_examples, tune_z
from superweight.detect.used import used_super_weights
from superweight.scoring.data import corpus_text, job_data_dir, wikitext2_validation_rows
from superweight.models.load import load_model
from superweight.provenance import Provenance, write_json
from superweight.quant.rtn import RTNOptions
from superweight.settings import Model, WeightQuant
from superweight.workflow.runlog import start

log = start(snakemake)
p, wc = snakemake.params, snakemake.wildcards
w = WeightQuant.from_dict(p.weights)  # the keys z tuning reads (Z_KEYS)
cal = w.calibration
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
prov = Provenance(wc.model, f"tune z int{wc.bits} block{wc.block}", {"weights": p.weights, "seqlen": p.seqlen})
rows, texts = calibration_examples(wikitext2_validation_rows(data_dir), cal.examples, cal.seed)
check_disjoint(texts, {c: corpus_text(c, data_dir, p.c4_docs) for c in p.eval_corpora})
log.info("%d calibration examples from %s, none in the evaluation corpora %s", len(texts), cal.corpus, p.eval_corpora)
examples = tokenize_examples(AutoTokenizer.from_pretrained(snakemake.input.model), texts, p.seqlen)
sws = used_super_weights(snakemake.input.detect)
result = tune_z(lambda: load_model(snakemake.input.model, Model.from_dict(p.model).dtype, p.device)[0], examples,
                int(wc.bits), wc.block, list(w.z_candidates), sws, w.z_criterion, RTNOptions.from_config(w))
write_json(snakemake.output[0], {**result, "calibration": {**cal.as_dict(), "rows": rows, "disjoint_from": p.eval_corpora},
                                 "provenance": prov.record()})
log.info("best z %g (%s)", result["z"], result["criterion"])
