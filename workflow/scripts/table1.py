from pathlib import Path

from superweight.provenance import read_json
from superweight.workflow.runlog import start
from superweight.report.reproduce_render import marks_for, read
from superweight.report.tables import stats_kw, table1_rows, with_paper, write_table
from superweight.settings import Stats

start(snakemake)
st = Stats.from_dict(snakemake.params.stats)
rep = getattr(snakemake.input, "reproduction", None)  # results/reproduction.json, when the rule names it
results = [read_json(f) for f in snakemake.input if f != rep]
marks = marks_for(read(rep), results[0]["model"], "Table 1") if rep and results else None
df = with_paper(table1_rows(results, stats_kw(st)), snakemake.params.paper, marks)
stem = Path(snakemake.output[0]).with_suffix("")
looks = any(r.get("scores", {}).get("sequential") for r in results)
write_table(df, stem, "Table 1: super-weight ablation (accuracy %, perplexity), each condition compared with the "
            "original on the same documents and windows" + (
                "; a condition scored in looks (config `sequential`: fewer docs/task or windows) is read where it "
                "stopped, its intervals the group-sequential design's repeated intervals" if looks else ""),
            st.level)
