import _common  # noqa: F401
from pathlib import Path

from superweight.provenance import read_json
from superweight.runlog import start
from superweight.tables import act_quant_table, quant_rows, table6, write_table

start(snakemake)
df = quant_rows([read_json(f) for f in snakemake.input])
stem = Path(snakemake.output[0]).with_suffix("")
if snakemake.rule == "table_aquant":
    write_table(act_quant_table(df), stem, "Tables 3/4: W8A8 activation quantization (simulated): perplexity per "
                "method and the share of SmoothQuant's perplexity gain over naive W8A8 that each method keeps")
elif snakemake.rule == "table6":
    write_table(table6(df, snakemake.params.paper), stem, "Table 6: INT4 round-to-nearest without clipping; the "
                "super weights put back in full precision after quantizing, at their original value (x1) or amplified; "
                "plain RTN beside. Average zero-shot accuracy (%), perplexity, and the paper's average accuracy")
else:
    write_table(df, stem, "Weight quantization (simulated RTN): accuracy (%) and perplexity per method, bits and block size")
