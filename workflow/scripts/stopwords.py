import pandas as pd

from superweight.analysis.stopwords import (lambada_prompts, mean_next_token_probs, per_prompt_summary, stopword_table,
                                  stopword_tracks)
from superweight.scoring.data import checksums, job_data_dir, lambada_texts
from superweight.detect.used import NONE_USED, used_super_weights
from superweight.interventions.edits import zeroed
from superweight.models.load import load_model
from superweight.provenance import Provenance, result_record, write_json
from superweight.settings import Model, Stopwords
from superweight.workflow.runlog import start

log = start(snakemake)
p, wc = snakemake.params, snakemake.wildcards
st = Stopwords.from_dict(p.stopwords)
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
prov = Provenance(wc.model, "stopwords", {"stopwords": p.stopwords, "model": p.model},
                  checksums(data_dir, ["lambada_openai"]))
sws = used_super_weights(snakemake.input.detect)
cols = ["rank", "token_id", "token", "stopword", "p_original", "p_no_super_weight", "ratio"]
if not sws:
    pd.DataFrame(columns=cols).to_csv(snakemake.output.csv, index=False)
    write_json(snakemake.output.json, result_record(wc.model, prov, NONE_USED))
    raise SystemExit(0)
model, tok = load_model(snakemake.input.model, Model.from_dict(p.model).dtype, p.device)
prompts = lambada_prompts(lambada_texts(data_dir, st.n_prompts))
track = stopword_tracks(tok, model.get_output_embeddings().weight.shape[0])
per_orig, per_pruned = {}, {}
p_orig = mean_next_token_probs(model, tok, prompts, "original", track, per_orig)
with zeroed(model, sws):
    p_pruned = mean_next_token_probs(model, tok, prompts, "super weights zeroed", track, per_pruned)
rows, summary = stopword_table(tok, p_orig, p_pruned, st.top_k)
summary["per_prompt"] = per_prompt_summary(summary, per_orig, per_pruned)
pd.DataFrame(rows, columns=cols).to_csv(snakemake.output.csv, index=False)
write_json(snakemake.output.json, result_record(wc.model, prov, n_prompts=len(prompts),
                                                super_weights=[list(c) for c in sws], **summary))
log.info("stopword mass %.3f -> %.3f", summary["stopword_mass_original"], summary["stopword_mass_no_super_weight"])
