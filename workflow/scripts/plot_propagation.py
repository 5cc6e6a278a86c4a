import pandas as pd

from superweight.report.figures import residual_stream
from superweight.settings import Plots
from superweight.workflow.runlog import start

start(snakemake)
residual_stream(pd.read_csv(snakemake.input[0]), f"{snakemake.wildcards.model}: super-activation propagation (n = 1 prompt)",
                snakemake.output[0], Plots.from_dict(snakemake.params.style), xlabel="decoder layer (its output)")
