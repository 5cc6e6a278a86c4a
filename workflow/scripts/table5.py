from pathlib import Path

from superweight.provenance import read_json
from superweight.workflow.runlog import start
from superweight.report.reproduce_render import read
from superweight.report.tables import stats_kw, table5, write_table
from superweight.settings import Stats

start(snakemake)
st = Stats.from_dict(snakemake.params.stats)
rep = getattr(snakemake.input, "reproduction", None)  # results/reproduction.json, when the rule names it
df = table5([read_json(f) for f in snakemake.input if f != rep], stats_kw(st), read(rep))
write_table(df, Path(snakemake.output[0]).with_suffix(""),
            "Table 5: accuracy (%) per task, original (factor 1) vs. the factor with the best average accuracy, and their "
            "paired difference (the best factor is chosen on these documents, so the difference is optimistic)", st.level)
