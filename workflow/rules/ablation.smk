# Table 1: the ablation conditions scored; `score` is the template of every score rule.
include: "helpers/scoring.smk"


rule tokenize_corpus:
    """Tokenize a perplexity corpus once per model (GPTQ protocol: the whole text, one tensor), with a JSON
    saying how the text was built and tokenized."""
    input:
        model=model_dir,
    output:
        ids="results/{model}/corpora/{corpus}.pt",
        provenance="results/{model}/corpora/{corpus}.json",
    wildcard_constraints:
        corpus="|".join(CONSTRUCTION),  # the perplexity corpora the library builds
    params:
        data=lambda wc: data_id([wc.corpus]),  # its checksums and construction, not its path
        c4_docs=config["perplexity"]["c4_docs"],
    log:
        "results/{model}/logs/tokenize_{corpus}.log",
    benchmark:
        "results/{model}/benchmarks/tokenize_{corpus}.tsv"
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/tokenize_corpus.py"


rule score:
    """Table 1: one condition of the ablation, scored with perplexity and lm-eval zero-shot tasks; a condition in
    `sequential.compare` in looks, stopping once its comparisons are decided. The template of every score rule
    (scaling, weight and activation quantization): they change its input, output and params."""
    input:
        **score_input(config["perplexity"]["corpora"], references=compared_with),
    output:
        "results/{model}/ablation/{condition}/scores.json",
    params:
        kind="ablation",
        spec=lambda wc: {"condition": wc.condition},
        cfg=ablation_cfg,
        corpora=config["perplexity"]["corpora"],
        model=model_cfg,
        device=config["device"],
        data=scored_data(config["perplexity"]["corpora"]),  # recorded in the provenance
    log:
        "results/{model}/logs/score_{condition}.log",
    benchmark:
        "results/{model}/benchmarks/score_{condition}.tsv"
    threads: 2
    resources:
        **model_job(score_work("ablation", lambda wc: {"condition": wc.condition}, config["perplexity"]["corpora"],
                               config["eval"])),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/score.py"


rule table1:
    """Table 1 for one model (with the paper's numbers beside it when known)."""
    input:
        expand("results/{{model}}/ablation/{condition}/scores.json", condition=CONDITIONS),
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
        expand("results/{model}/ablation/{condition}/scores.json", model=MODELS, condition=CONDITIONS),
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
