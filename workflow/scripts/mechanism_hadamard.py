"""Hadamard decomposition of each super weight's input and output at its super activation's token (measurements;
the verdict is the claims table's, claim mechanism_hadamard)."""

from superweight.analysis.hadamard import hadamard
from superweight.detect.spikes import prompt_ids
from superweight.detect.used import NONE_USED, used_super_weights
from superweight.models.load import load_model
from superweight.provenance import Provenance, result_record, write_json
from superweight.settings import Model
from superweight.workflow.runlog import start

log = start(snakemake)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
prov = Provenance(wc.model, "hadamard", {"prompt": p.prompt, "model": p.model})
sws = used_super_weights(snakemake.input.detect)
rows, channels, summaries = [], [], []
if sws:
    model, tok = load_model(snakemake.input.model, Model.from_dict(p.model).dtype, p.device)
    rows, channels, summaries = hadamard(model, prompt_ids(tok, p.prompt, p.device), sws)
cols = ["layer", "row", "col", "token", "quantity", "value", "abs_rank", "n_channels", "z", "ratio_to_median"]
import pandas as pd  # here, not at the top: the model's first forward does not wait for pandas
pd.DataFrame(rows, columns=cols).to_csv(out.csv, index=False)
pd.DataFrame(channels, columns=["layer", "row", "col", "token", "quantity", "channel", "value"]).to_csv(out.channels, index=False)
write_json(out.json, result_record(wc.model, prov, None if sws else NONE_USED, prompt=p.prompt,
                                   super_weights=[list(c) for c in sws], quantities=rows, outputs=summaries))
log.info("hadamard: %s", "; ".join(f"L{s['layer']} [{s['row']}, {s['col']}] share of the output {s['sw_share']:.3g}"
                                   for s in summaries) or NONE_USED)
