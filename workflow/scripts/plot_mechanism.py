"""Figure and table of one mechanism experiment (hadamard, skip, significance), from its result files (measurements;
the verdict is in results/claims.md, claim mechanism_{exp})."""
from pathlib import Path

import pandas as pd

from superweight.report import figures_mechanism as pm
from superweight.provenance import read_json
from superweight.settings import Plots
from superweight.workflow.runlog import start
from superweight.report.tables import write_table

start(snakemake)
wc, out = snakemake.wildcards, snakemake.output
style = Plots.from_dict(snakemake.params.get("style", {}))  # table_mechanism: no figure, no style
fig = out.get("fig")
res = read_json(snakemake.input.json)
df = pd.read_csv(snakemake.input.csv)
title = f"{wc.model}: {wc.exp}" + ("" if res.get("status") != "skipped" else f" — skipped: {res.get('reason')}")
if fig:
    if wc.exp == "hadamard":
        pm.hadamard_figure(pd.read_csv(snakemake.input.channels), title, fig, style)
    elif wc.exp == "skip":
        pm.skip_figure(df, title, fig, style)
    else:
        pm.significance_figure(df, res, title, fig, style)
else:
    table = df
    if wc.exp == "significance" and len(df):
        table = df.groupby("kind", sort=False)["ratio"].agg(["count", "min", "median", "max"]).reset_index()
        table["at_least_sw"] = [res["kinds"].get(k, {}).get("n_at_least_sw") for k in table["kind"]]
    caption = (f"{title}: measurements. The verdict, its test and interval: results/claims.md, claim "
               f"mechanism_{wc.exp}.")
    write_table(table, Path(out.md).with_suffix(""), caption)
