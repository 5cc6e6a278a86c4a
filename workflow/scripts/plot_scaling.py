from superweight.report.figures import scaling_curve
from superweight.provenance import read_json
from superweight.workflow.runlog import start
from superweight.report.tables import scaling_rows, stats_kw
from superweight.settings import Plots, Stats

start(snakemake)
scaling_curve(scaling_rows([read_json(f) for f in snakemake.input], stats_kw(Stats.from_dict(snakemake.params.stats))),
              snakemake.output[0], Plots.from_dict(snakemake.params.style))
