# Fig. 4-6 and Table 5: stopwords, propagation through the residual stream, scaling the super weights.

rule stopwords:
    """Fig. 5: next-token probabilities on LAMBADA prompts, original vs super weights zeroed."""
    input:
        model=model_dir,
        detect=runplan.PATTERNS["detect"],
    output:
        csv="results/{model}/stopwords/top_tokens.csv",
        json="results/{model}/stopwords/summary.json",
    params:
        model=model_cfg,
        stopwords=config["analysis"]["stopwords"],
        data=data_id(["lambada_openai"]),
        device=config["device"],
    log:
        "results/{model}/logs/stopwords.log",
    benchmark:
        "results/{model}/benchmarks/stopwords.tsv"
    threads: 2
    resources:
        **model_job(R.prompts(2 * config["analysis"]["stopwords"]["n_prompts"])),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/stopwords.py"


rule propagation:
    """Fig. 4: max |residual stream| per layer: original, super weights / other outliers / all removed;
    and the next-token case study with and without the super weights."""
    input:
        model=model_dir,
        detect=runplan.PATTERNS["detect"],
    output:
        csv="results/{model}/propagation/residual_max.csv",
        case=multiext("results/{model}/propagation/case_study", ".csv", ".md"),
    params:
        model=model_cfg,
        prompt=config["detection"]["prompt"],
        ablation=config["ablation"],
        propagation=config["analysis"]["propagation"],
        case_study=config["analysis"]["case_study"],
        device=config["device"],
    log:
        "results/{model}/logs/propagation.log",
    benchmark:
        "results/{model}/benchmarks/propagation.tsv"
    threads: 2
    resources:
        **model_job(R.prompts()),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/propagation.py"


use rule score as score_scaled with:
    """Fig. 6 / Table 5: the super weights multiplied by {factor}, scored."""
    input:
        **score_input(CORPORA["scaling"]),
    output:
        runplan.PATTERNS["scaling"],
    params:
        kind="scaling",
        spec=lambda wc: {"factor": float(wc.factor)},
        cfg={"perplexity": config["perplexity"], "eval": eval_for("scaling")},
        corpora=CORPORA["scaling"],
        data=scored_data(CORPORA["scaling"]),
    log:
        "results/{model}/logs/score_scaled_x{factor}.log",
    benchmark:
        "results/{model}/benchmarks/score_scaled_x{factor}.tsv"
    resources:
        **model_job(score_work("scaling", lambda wc: {"factor": float(wc.factor)})),


SCALED_REUSE = PLAN.reused("scaling")  # {factor: the ablation condition whose scores it reads}

localrules:
    reuse_scaled,

ruleorder: reuse_scaled > score_scaled

rule reuse_scaled:
    """Scaling x1 is the unmodified model, x0 the super weights zeroed: the ablation's original and prune_sw
    scores (same settings, the sweep's first documents), not a second run."""
    input:
        scores=lambda wc: runplan.PATTERNS["ablation"].format(model=wc.model, condition=SCALED_REUSE[wc.factor]),
        detect=runplan.PATTERNS["detect"],
    output:
        runplan.PATTERNS["scaling"],
    wildcard_constraints:
        factor=only_if(SCALED_REUSE, "|".join(re.escape(f) for f in SCALED_REUSE)),
    params:
        kind="scaling",
        spec=lambda wc: {"factor": float(wc.factor)},
        cfg={"perplexity": config["perplexity"], "eval": eval_for("scaling")},
        corpora=CORPORA["scaling"],
        model=model_cfg,
        data=scored_data(CORPORA["scaling"]),
    log:
        "results/{model}/logs/reuse_scaled_x{factor}.log",
    benchmark:
        "results/{model}/benchmarks/reuse_scaled_x{factor}.tsv"
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/reuse_scores.py"


rule plot_stopwords:
    input:
        csv="results/{model}/stopwords/top_tokens.csv",
        json="results/{model}/stopwords/summary.json",
    output:
        report(
            "results/{model}/stopwords/stopwords.{fmt}",
            caption="../report/stopwords.rst",
            category="Stopwords (Fig. 5)",
            subcategory="{model}",
        ),
    params:
        style=config["plots"],
        stats=config["stats"],
    log:
        "results/{model}/logs/plot_stopwords_{fmt}.log",
    benchmark:
        "results/{model}/benchmarks/plot_stopwords_{fmt}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_stopwords.py"


rule plot_propagation:
    input:
        "results/{model}/propagation/residual_max.csv",
    output:
        report(
            "results/{model}/propagation/residual_max.{fmt}",
            caption="../report/propagation.rst",
            category="Propagation (Fig. 4)",
            subcategory="{model}",
        ),
    params:
        style=config["plots"],
    log:
        "results/{model}/logs/plot_propagation_{fmt}.log",
    benchmark:
        "results/{model}/benchmarks/plot_propagation_{fmt}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_propagation.py"


rule table5:
    """Table 5: per task, the original model vs. the best scaling factor."""
    input:
        PLAN.paths("scaling"),
        reproduction=REPRODUCTION,  # a paper model's numbers marked reproduced or not
    output:
        "results/tables/table5.csv",
        "results/tables/table5.md",
        "results/tables/table5.tex",
        report("results/tables/table5.html", caption="../report/scaling.rst", category="Scaling (Fig. 6, Table 5)"),
    params:
        stats=config["stats"],
    log:
        "results/logs/table5.log",
    benchmark:
        "results/benchmarks/table5.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table5.py"


rule plot_scaling:
    """Fig. 6: average accuracy against the scaling factor, one line per model."""
    input:
        PLAN.paths("scaling"),
    output:
        report("results/figures/scaling.{fmt}", caption="../report/scaling.rst", category="Scaling (Fig. 6, Table 5)"),
    params:
        stats=config["stats"],
        style=config["plots"],
    log:
        "results/logs/plot_scaling_{fmt}.log",
    benchmark:
        "results/benchmarks/plot_scaling_{fmt}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_scaling.py"
