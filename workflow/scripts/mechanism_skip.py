"""Skip-connection ablation against zeroing the super weight: perplexity and the stopword shift (measurements; the
verdict is the claims table's, claim mechanism_skip)."""

import torch

from superweight.analysis.skip import skip_experiment
from superweight.analysis.stopwords import lambada_prompts
from superweight.detect.used import NONE_USED, used_super_weights
from superweight.models.load import load_model
from superweight.scoring.perplexity import windows_of
from superweight.provenance import Provenance, result_record, write_json
from superweight.scoring.data import checksums, job_data_dir, lambada_texts
from superweight.settings import Mechanism, Model
from superweight.workflow.runlog import start

log = start(snakemake)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
m = Mechanism.from_dict(p.mech)  # the keys skip reads
sk = m.skip
data_dir = job_data_dir(snakemake.config)  # from the config: no param carries its path
prov = Provenance(wc.model, "skip", {"mechanism": p.mech, "model": p.model}, checksums(data_dir, ["lambada_openai"]))
sws = used_super_weights(snakemake.input.detect)
rows = []
if sws:
    model, tok = load_model(snakemake.input.model, Model.from_dict(p.model).dtype, p.device)
    prompts = lambada_prompts(lambada_texts(data_dir, sk.n_prompts)) if sk.n_prompts else []
    rows = skip_experiment(model, tok, torch.load(snakemake.input.corpus), prompts, sws, m.seqlen, m.windows, sk.offsets,
                           sk.tokens, **windows_of(snakemake.input.corpus, p.window_order))
cols = ["condition", "offset", "from_layer", "tokens", "ppl", "ppl_ratio", "windows", "seqlen", "fraction_of_prune_sw",
        "n_prompts", "stopword_mass", "stopword_mass_ratio", "ratio_the", "ratio_.", "ratio_,"]
import pandas as pd  # here, not at the top: the model's first forward does not wait for pandas
df = pd.DataFrame(rows, columns=cols)
for c in ("offset", "from_layer"):
    df[c] = df[c].astype("Int64")
df.to_csv(out.csv, index=False)
write_json(out.json, result_record(wc.model, prov, None if sws else NONE_USED, super_weights=[list(c) for c in sws],
                                   conditions=rows))
