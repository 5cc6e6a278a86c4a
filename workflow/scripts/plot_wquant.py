from superweight.report.figures import wquant_curves
from superweight.provenance import read_json
from superweight.workflow.runlog import start
from superweight.report.tables import quant_rows, stats_kw
from superweight.settings import Plots, Stats

start(snakemake)
wquant_curves(quant_rows([read_json(f) for f in snakemake.input], stats_kw(Stats.from_dict(snakemake.params.stats))),
              int(snakemake.wildcards.bits), snakemake.output[0], Plots.from_dict(snakemake.params.style))
