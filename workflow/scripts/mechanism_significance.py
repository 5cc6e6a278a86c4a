"""The super weights against N random matched sets of other outliers: perplexity ratios (measurements; the verdict is
the claims table's, claim mechanism_significance)."""
import torch

from superweight.analysis.significance import rows, significance
from superweight.detect.used import NONE_USED, used_super_weights
from superweight.models.load import load_model
from superweight.scoring.perplexity import windows_of
from superweight.provenance import Provenance, result_record, write_json
from superweight.settings import Mechanism, Model, PruneNonSW
from superweight.workflow.runlog import start

log = start(snakemake)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
m, nonsw = Mechanism.from_dict(p.mech), PruneNonSW.from_dict(p.nonsw)  # the keys significance reads
sg = m.significance
prov = Provenance(wc.model, "significance", {"mechanism": p.mech, "prune_nonsw": p.nonsw, "model": p.model})
sws = used_super_weights(snakemake.input.detect)
result = None
if sws:
    model, tok = load_model(snakemake.input.model, Model.from_dict(p.model).dtype, p.device)
    result = significance(model, torch.load(snakemake.input.corpus), sws, m.seqlen, m.windows, sg.n_sets, sg.seed,
                          sg.matrix_pool, sg.model_fraction, nonsw.rule, nonsw.amount,
                          **windows_of(snakemake.input.corpus, p.window_order))
import pandas as pd  # here, not at the top: the model's first forward does not wait for pandas
pd.DataFrame(rows(result) if result else [], columns=["kind", "set", "n_weights", "ppl", "ratio"]).to_csv(out.csv, index=False)
write_json(out.json, result_record(wc.model, prov, None if sws else NONE_USED, **(result or {})))
