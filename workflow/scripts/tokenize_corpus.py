import _common  # noqa: F401
from pathlib import Path

import torch
from transformers import AutoTokenizer

from superweight.data import corpus_text
from superweight.perplexity import tokenize
from superweight.runlog import start

log = start(snakemake)
data_dir = Path(snakemake.params.data_dir) if snakemake.params.data_dir else None
tok = AutoTokenizer.from_pretrained(snakemake.input.model)
ids = tokenize(tok, corpus_text(snakemake.wildcards.corpus, data_dir, snakemake.params.c4_docs))
torch.save(ids, snakemake.output[0])
log.info("%s: %d tokens", snakemake.wildcards.corpus, len(ids))
