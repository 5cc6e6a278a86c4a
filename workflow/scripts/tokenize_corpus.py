import hashlib
import sys

import torch
from transformers import AutoTokenizer

from superweight.scoring.data import CONSTRUCTION, UNITS, checksums, corpus_articles, job_data_dir
from superweight.scoring.perplexity import article_starts, tokenize
from superweight.provenance import Provenance, write_json
from superweight.workflow.config import c4_tokens_problem
from superweight.workflow.runlog import start

log = start(snakemake)
corpus = snakemake.wildcards.corpus
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
prov = Provenance(snakemake.wildcards.model, None, {"c4_docs": snakemake.params.c4_docs} if corpus == "c4" else {},
                  checksums(data_dir, [corpus]))
tok = AutoTokenizer.from_pretrained(snakemake.input.model)
text, chars = corpus_articles(corpus, data_dir, snakemake.params.c4_docs)
ids = tokenize(tok, text)
if corpus == "c4" and (problem := c4_tokens_problem(snakemake.config, len(ids), "this job's count")):
    log.error("error: %s", problem)  # one line, before anything is written
    print(f"error: {problem}", file=sys.__stderr__)
    sys.exit(1)
starts = article_starts(tok, text, chars)
torch.save(ids, snakemake.output.ids)
bos = tok.bos_token_id
write_json(snakemake.output.provenance, {
    "corpus": corpus, "construction": CONSTRUCTION[corpus], "source": str(data_dir) if data_dir else "Hugging Face Hub",
    "text_chars": len(text), "text_newlines": text.count("\n"), "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
    "tokens": len(ids), "tokenizer": type(tok).__name__, "add_special_tokens": True,
    "bos_token_id": bos, "starts_with_bos": bos is not None and len(ids) > 0 and int(ids[0]) == bos,
    "bos_count": int((ids == bos).sum()) if bos is not None else 0,
    # the first token of each article (WikiText) / document (C4): windows that share one are one unit of the intervals
    "unit": UNITS[corpus], "article_starts": starts, "provenance": prov.record()})
log.info("%s: %d tokens from %d characters, %d %ss (%s)", corpus, len(ids), len(text), len(starts), UNITS[corpus],
         CONSTRUCTION[corpus])
