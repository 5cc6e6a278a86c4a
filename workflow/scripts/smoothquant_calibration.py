"""SmoothQuant's calibration samples, apart from every evaluated window (superweight.quant.tune_z.smoothquant_texts)."""

import torch
from transformers import AutoTokenizer

from superweight.quant.tune_z import smoothquant_texts, tokenize_examples
from superweight.scoring.data import checksums, corpus_text, job_data_dir
from superweight.provenance import Provenance, write_json
from superweight.settings import SmoothQuantCalibration
from superweight.workflow.runlog import start

log = start(snakemake)
p = snakemake.params
cal = SmoothQuantCalibration.from_dict(p.calibration)
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
prov = Provenance(snakemake.wildcards.model, "smoothquant calibration", {"calibration": p.calibration, "c4_docs": p.c4_docs},
                  checksums(data_dir, sorted({cal.corpus, *p.eval_corpora})))
evaluated = {c: corpus_text(c, data_dir, p.c4_docs) for c in p.eval_corpora}
idx, texts = smoothquant_texts(cal.corpus, data_dir, p.c4_docs, cal.samples, cal.seed, evaluated)
examples = tokenize_examples(AutoTokenizer.from_pretrained(snakemake.input.model), texts, cal.seqlen)
record = {**p.calibration, "indices": idx, "from": ("C4 validation documents after the first perplexity.c4_docs"
                                          if cal.corpus == "c4" else "WikiText-2 validation paragraphs"),
          "disjoint_from": list(p.eval_corpora), "samples_used": len(examples),
          "tokens": sum(len(x) for x in examples)}
torch.save({"examples": examples, "record": record}, snakemake.output.ids)
write_json(snakemake.output.json, {**record, "provenance": prov.record()})
log.info("SmoothQuant calibration: %d samples, %d tokens from %s, none in the evaluated corpora %s", len(examples),
         record["tokens"], record["from"], list(p.eval_corpora))
