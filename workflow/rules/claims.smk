rule claims:
    """The paper's claims (superweight.report.claims), each tested per model from the result files: holds / fails /
    inconclusive / not applicable (grade or reason in parentheses), the direction and the paper's strength, each
    model's interval sub-tests corrected together (Holm); across models and per model. The only place result
    files become verdicts."""
    input:
        PLAN.claim_inputs(),  # superweight.workflow.runplan: the files the claims declare they read
        paper_results=PAPER_RESULTS,  # each paper model's own numbers grade its strength
    output:
        "results/claims.md",  # the report shows results/claims.html (report.smk)
        "results/claims.csv",
        "results/claims.json",
        per_model=expand("results/{model}/claims.md", model=MODELS),
    params:
        models=MODELS,
        stats=config["stats"],
        # what each model's claims read of its config: its paper entry and the base model of an instruct variant
        model_cfg={m: {k: config["models"][m].get(k) for k in ("paper", "base")} for m in MODELS},
    log:
        "results/logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/claims.py"


rule reproduction:
    """Each number the paper prints for a paper model (`paper:` in its config) beside this run's value and interval,
    marked reproduced / not reproduced / undecided (superweight.report.reproduce); a model outside the paper gets
    one line saying so."""
    input:
        PLAN.results(),  # superweight.workflow.runplan: every result a paper number may be read from
        paper_results=PAPER_RESULTS,
    output:
        "results/reproduction.json",
        "results/reproduction.csv",
        "results/reproduction.md",
    params:
        models=MODELS,
        model_cfg={m: config["models"][m] for m in MODELS},
        stats=config["stats"],
    log:
        "results/logs/reproduction.log",
    benchmark:
        "results/benchmarks/reproduction.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/reproduction.py"
