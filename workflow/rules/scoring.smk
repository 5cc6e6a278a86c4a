# Scoring: the `score` rule (perplexity and zero-shot accuracy of one ablation condition), the template every score
# rule of the other stages varies with `use rule score as ... with:`; what they read and the work they ask for are in
# helpers/scoring.smk.
include: "helpers/scoring.smk"


rule score:
    """Table 1: one condition of the ablation, scored with perplexity and lm-eval zero-shot tasks; a condition in
    `sequential.compare` in looks, stopping once its comparisons are decided. The template of every score rule
    (scaling, weight and activation quantization): they change its input, output and params."""
    input:
        **score_input(CORPORA["ablation"], references=compared_with),
    output:
        runplan.PATTERNS["ablation"],
    params:
        kind="ablation",
        spec=lambda wc: {"condition": wc.condition},
        cfg=ablation_cfg,
        corpora=CORPORA["ablation"],
        model=model_cfg,
        device=config["device"],
        data=scored_data(CORPORA["ablation"]),  # recorded in the provenance
    log:
        "results/{model}/logs/score_{condition}.log",
    benchmark:
        "results/{model}/benchmarks/score_{condition}.tsv"
    threads: 2
    resources:
        **model_job(score_work("ablation", lambda wc: {"condition": wc.condition})),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/score.py"
