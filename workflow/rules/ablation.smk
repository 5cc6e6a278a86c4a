# Table 1: the ablation conditions, scored by `score` (scoring.smk), in tables.


rule table1:
    """Table 1 for one model (with the paper's numbers beside it when known)."""
    input:
        lambda wc: PLAN.paths("ablation", wc.model),
        # a paper model's table marks each paper number reproduced or not (rule reproduction)
        reproduction=lambda wc: "results/reproduction.json" if config["models"][wc.model].get("paper") else [],
    output:
        "results/tables/table1_{model}.csv",
        "results/tables/table1_{model}.md",
        "results/tables/table1_{model}.tex",
        report("results/tables/table1_{model}.html", caption="../report/table1.rst", category="Table 1 (ablation)"),
    params:
        stats=config["stats"],
        paper=lambda wc: paper_results(config["models"][wc.model].get("paper"), "table1"),
    log:
        "results/logs/table1_{model}.log",
    benchmark:
        "results/benchmarks/table1_{model}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table1.py"


rule table1_all:
    """Table 1 across every configured model."""
    input:
        PLAN.paths("ablation"),
    output:
        "results/tables/table1_all.csv",
        "results/tables/table1_all.md",
        "results/tables/table1_all.tex",
        report("results/tables/table1_all.html", caption="../report/table1.rst", category="Table 1 (ablation)"),
    params:
        stats=config["stats"],
        paper=None,
    log:
        "results/logs/table1_all.log",
    benchmark:
        "results/benchmarks/table1_all.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table1.py"
