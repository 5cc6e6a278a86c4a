from pathlib import Path

from superweight.provenance import read_json
from superweight.workflow.runlog import start
from superweight.report.reproduce_render import marks_for, read
from superweight.report.tables import act_quant_table, quant_rows, stats_kw, table6, with_paper_marks, write_table
from superweight.settings import Stats

start(snakemake)
rep = getattr(snakemake.input, "reproduction", None)  # results/reproduction.json, when the rule names it
results = [read_json(f) for f in snakemake.input if f != rep]
st = Stats.from_dict(snakemake.params.stats)
df = quant_rows(results, stats_kw(st))
stem = Path(snakemake.output[0]).with_suffix("")
if snakemake.rule == "table_aquant":
    write_table(act_quant_table(results, stats_kw(st), read(rep)), stem, "Tables 3/4: W8A8 activation quantization (simulated): perplexity per "
                "method, the share of SmoothQuant's perplexity gain over naive W8A8 that each method keeps (Table 3) and the "
                "share of naive W8A8's loss against fp it closes (Table 4); n/a where that gain or loss does not exist", st.level)
elif snakemake.rule == "table6":
    marks = {m: marks_for(read(rep), m, "Table 6") for m in {r["model"] for r in results}} if rep else None
    write_table(table6(df, snakemake.params.paper, marks), stem, "Table 6: INT4 round-to-nearest (whether the paper's "
                "clips is not stated); the "
                "super weights put back in full precision after quantizing, at their original value (x1) or amplified; "
                "plain RTN beside. Average zero-shot accuracy (%) ± SE, perplexity with its CI, the paired difference "
                "with its reference row, and the paper's average accuracy", st.level)
else:
    def fig7_label(r):  # Fig. 7's rows of results/reproduction.json: "INT4 {method} block {block}"
        return f"INT4 {r['method']} block {r['block']}" if r["bits"] == 4 else ""

    df = with_paper_marks(df, read(rep), "Fig. 7", fig7_label)
    write_table(df, stem, "Weight quantization (simulated RTN): accuracy (%) and perplexity per method, bits and block "
                "size, each method compared with plain RTN at the same block", st.level)
