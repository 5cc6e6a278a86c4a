from superweight.report.figures import wquant_curves
from superweight.provenance import read_json
from superweight.workflow.runlog import start
from superweight.report.tables import quant_rows, stats_kw

start(snakemake)
wquant_curves(quant_rows([read_json(f) for f in snakemake.input], stats_kw(snakemake.params.stats)), int(snakemake.wildcards.bits),
              snakemake.output[0], snakemake.params.style)
