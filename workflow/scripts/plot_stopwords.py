import pandas as pd

from superweight.report.compare import ratio_of_means
from superweight.report.figures import stopword_bars
from superweight.provenance import read_json
from superweight.settings import Plots, Stats
from superweight.workflow.runlog import start

start(snakemake)
summary = read_json(snakemake.input.json)
level = Stats.from_dict(snakemake.params.stats).level
cis = {k: ratio_of_means(v.get("original"), v.get("no_super_weight"), level)
       for k, v in summary.get("per_prompt", {}).items()}
stopword_bars(pd.read_csv(snakemake.input.csv, keep_default_na=False), summary,
              snakemake.wildcards.model, snakemake.output[0], Plots.from_dict(snakemake.params.style), cis)
