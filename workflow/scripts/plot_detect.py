import pandas as pd

from superweight.report.figures import down_proj_maxima, residual_stream
from superweight.provenance import read_json
from superweight.settings import Plots
from superweight.workflow.runlog import start

start(snakemake)
style = Plots.from_dict(snakemake.params.style)
model = snakemake.wildcards.model
summary = read_json(snakemake.input.json)
layers = pd.read_csv(snakemake.input.layers)
sws = summary["super_weights"]
coords = ", ".join(f"L{c['layer']} [{c['row']}, {c['col']}]" for c in sws) or "no confirmed super weight"
conf = summary.get("provenance", {}).get("config", {}).get("detection", {}).get("confirm", {})
n = (f"n = 1 prompt; confirmed by ppl x{conf['factor']:g} on {conf['windows']} x {conf['seqlen']} tokens"
     if conf else "n = 1 prompt")
down_proj_maxima(layers[layers["iteration"] == 0], [c["layer"] for c in sws],
                 f"{model}: down_proj activations, prompt {summary['prompt']!r} ({n})\nsuper weights: {coords}",
                 snakemake.output.maxima, style, summary.get("candidates", []))
residual_stream(pd.read_csv(snakemake.input.residual), f"{model}: residual stream, n = 1 prompt ({coords})",
                snakemake.output.residual, style)
