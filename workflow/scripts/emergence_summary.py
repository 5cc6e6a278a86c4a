"""The emergence sweep: one row per checkpoint, the crossing step, the verdict, the figure."""
from pathlib import Path

import pandas as pd

from superweight.analysis.emergence import crossing_step, table
from superweight.report.emergence import verdict_emergence
from superweight.report.figures_mechanism import emergence_figure
from superweight.provenance import Provenance, read_json, write_json
from superweight.settings import Plots
from superweight.workflow.runlog import start
from superweight.report.tables import write_table

start(snakemake)
out, name = snakemake.output, snakemake.params.name
prov = Provenance(name, "emergence", {})
points = [read_json(f) for f in snakemake.input]
for pt in points:
    pt["ppl_ratio"] = float(pt["ppl_ratio"]) if pt["ppl_ratio"] is not None else float("nan")
rows = table(points)
step = crossing_step(rows)
verdict = verdict_emergence(rows)
df = pd.DataFrame(rows)
df.to_csv(out.csv, index=False)
write_json(out.json, {"name": name, "rows": rows, "crossing_step": step, "tracked": points[-1]["track"],
                      "verdict": verdict, "provenance": prov.record()})
emergence_figure(df, f"{name}: super weights over training — {verdict['verdict']}", step, out.fig,
                  Plots.from_dict(snakemake.params.style))
write_table(df.drop(columns=["super_weights"]), Path(out.md).with_suffix(""),
            f"{name}: emergence over training; verdict **{verdict['verdict']}**. {verdict['evidence']}")
