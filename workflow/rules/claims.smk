def claims_inputs(wildcards=None):
    """Every result file the claims read, for the experiments this config runs (a claim whose files are not
    listed here is reported "not applicable: not run"). New experiments add their files here."""
    out = []
    for m in MODELS:
        r = f"results/{m}"
        out += [f"{r}/detect/super_weights.json", f"{r}/detect/residual_stream.csv", f"{r}/stopwords/summary.json"]
        out += [f"{r}/ablation/{c}/scores.json" for c in CONDITIONS]
        out += [f"{r}/scaling/x{f}/scores.json" for f in FACTORS]
        out += [f"{r}/wquant/int{b}/{meth}/block{blk}/scores.json"
                for b in WQ["bits"] for meth in WQ["methods"] for blk in WQ["blocks"]]
        out += [f"{r}/aquant/w8a8/{meth}/scores.json" for meth in AQ["methods"]]
    return out


rule claims:
    """The paper's claims (superweight.claims), each tested per model from the result files: holds / fails /
    inconclusive / not applicable, with evidence and 95% CIs; across models and per model."""
    input:
        claims_inputs,
    output:
        report(
            multiext("results/claims", ".md", ".csv", ".json"),
            caption="../report/claims.rst",
            category="Claims",
        ),
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
