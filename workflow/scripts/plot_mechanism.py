"""Figure and table of one mechanism experiment (hadamard, skip, significance), from its result files."""
from pathlib import Path

import pandas as pd

from superweight.report import figures_mechanism as pm
from superweight.provenance import read_json
from superweight.workflow.runlog import start
from superweight.report.tables import write_table

start(snakemake)
wc, out = snakemake.wildcards, snakemake.output
style = snakemake.params.get("style", {})
fig = out.get("fig")
res = read_json(snakemake.input.json)
df = pd.read_csv(snakemake.input.csv)
v = res["verdict"]
title = f"{wc.model}: {wc.exp} — {v['verdict']}"
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
        table["p_value"] = [res["kinds"].get(k, {}).get("p_value") for k in table["kind"]]
    caption = f"{wc.model}, {wc.exp}: verdict **{v['verdict']}**. {v['evidence']}. Test: {v.get('test', '')}"
    write_table(table, Path(out.md).with_suffix(""), caption)
