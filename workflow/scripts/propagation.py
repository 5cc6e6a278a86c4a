from pathlib import Path

from superweight.analysis.propagation import propagation
from superweight.analysis.stopwords import top_next_tokens
from superweight.detect.used import NONE_USED, used_super_weights
from superweight.interventions.edits import zeroed
from superweight.models.load import load_model
from superweight.settings import Ablation, CaseStudy, Model, Propagation
from superweight.workflow.runlog import start

log = start(snakemake)
p, wc = snakemake.params, snakemake.wildcards
nonsw, prop = Ablation.from_dict(p.ablation).prune_nonsw, Propagation.from_dict(p.propagation)
cs = CaseStudy.from_dict(p.case_study)
sws = used_super_weights(snakemake.input.detect)
model, tok = load_model(snakemake.input.model, Model.from_dict(p.model).dtype, p.device)
rows = propagation(model, tok, p.prompt, sws, nonsw.rule, nonsw.amount, prop.outliers, prop.amount)
import pandas as pd  # here, not at the top: the model's first forward does not wait for pandas
from superweight.report.tables import write_table
pd.DataFrame(rows).to_csv(snakemake.output.csv, index=False)

k = cs.top_k
case = []
for prompt in cs.prompts:
    with_sw = top_next_tokens(model, tok, prompt, k)
    if sws:
        with zeroed(model, sws):
            without = top_next_tokens(model, tok, prompt, k)
    for i, (t, pr) in enumerate(with_sw):
        row = {"prompt": prompt, "rank": i + 1, "token (original)": repr(t), "p (original)": pr}
        if sws:
            row.update({"token (no super weight)": repr(without[i][0]), "p (no super weight)": without[i][1]})
        case.append(row)
note = "" if sws else f" ({NONE_USED}: original only)"
write_table(pd.DataFrame(case), Path(snakemake.output.case[0]).with_suffix(""),
            f"{wc.model}: top-{k} next tokens with and without the super weights{note}")
