# superweight: find the super weights of LLMs and reproduce arXiv 2411.07191.
#   snakemake --cores 2                      (default config: one small model, CPU, offline)
#   snakemake --configfile config/paper.yaml --profile profiles/slurm
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/scoring.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/quantize.smk"
include: "workflow/rules/protocol.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/mechanism.smk"
include: "workflow/rules/emergence.smk"


# rendering and bookkeeping run on the submit host, not as cluster jobs
localrules:
    all,
    prepare_tasks,
    plot_detect,
    table1,
    table1_all,
    plot_stopwords,
    plot_propagation,
    plot_scaling,
    table5,
    plot_wquant,
    table_wquant,
    table_aquant,
    table6,
    protocol,
    protocol_settings,
    summary,
    claims,
    summary_html,
    claims_html,
    protocol_html,
    plot_mechanism,
    table_mechanism,
    emergence,


rule all:
    input:
        all_outputs(),
    default_target: True


onsuccess:
    from superweight.provenance import summarize_benchmarks

    n = summarize_benchmarks("results", "results/timing.csv")
    print(f"results/timing.csv: time and memory of {n} benchmarked jobs")
