rule claims:
    """The paper's claims (superweight.report.claims), each tested per model from the result files: holds / fails /
    inconclusive / not applicable (grade or reason in parentheses), the direction and the paper's strength, each
    model's interval sub-tests corrected together (Holm); across models and per model. The only place result
    files become verdicts."""
    input:
        PLAN.claim_inputs(),  # superweight.workflow.runplan
    output:
        "results/claims.md",  # the report shows results/claims.html (report.smk)
        "results/claims.csv",
        "results/claims.json",
        per_model=expand("results/{model}/claims.md", model=MODELS),
    params:
        models=MODELS,
        stats=config["stats"],
    log:
        "results/logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/claims.py"
