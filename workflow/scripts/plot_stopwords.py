import _common  # noqa: F401
import pandas as pd

from superweight.plot import stopword_bars
from superweight.provenance import read_json
from superweight.runlog import start

start(snakemake)
stopword_bars(pd.read_csv(snakemake.input.csv, keep_default_na=False), read_json(snakemake.input.json),
              snakemake.wildcards.model, snakemake.output[0], snakemake.params.style)
