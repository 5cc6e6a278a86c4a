from pathlib import Path

from superweight.provenance import read_json
from superweight.workflow.runlog import start
from superweight.report.tables import stats_kw, table1_rows, with_paper, write_table

start(snakemake)
st = snakemake.params.stats
df = with_paper(table1_rows([read_json(f) for f in snakemake.input], stats_kw(st)), snakemake.params.paper)
stem = Path(snakemake.output[0]).with_suffix("")
write_table(df, stem, "Table 1: super-weight ablation (accuracy %, perplexity), each condition compared with the "
            "original on the same documents and windows", st["level"])
