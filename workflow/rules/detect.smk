rule detect:
    """Data-free detection (iterated), confirmed by ablation on text no verdict evaluates (WikiText-2 validation)."""
    input:
        model=model_dir,
    output:
        json=runplan.PATTERNS["detect"],
        layers="results/{model}/detect/layer_maxima.csv",
        residual="results/{model}/detect/residual_stream.csv",
    params:
        detection=config["detection"],
        model=model_cfg,
        known=lambda wc: config["models"][wc.model].get("super_weights"),  # published coordinates
        data=data_id([config["detection"]["confirm"]["corpus"]]),  # its checksums, not its path
        device=config["device"],
    log:
        "results/{model}/logs/detect.log",
    benchmark:
        "results/{model}/benchmarks/detect.tsv"
    threads: 2
    resources:
        **model_job(R.detection(SETTINGS.detection)),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/detect.py"


rule plot_detect:
    """Fig. 3 (down_proj maxima per layer) and Fig. 4 (residual stream, original vs super weights zeroed)."""
    input:
        json=runplan.PATTERNS["detect"],
        layers="results/{model}/detect/layer_maxima.csv",
        residual="results/{model}/detect/residual_stream.csv",
    output:
        maxima=report(
            "results/{model}/detect/down_proj_maxima.{fmt}",
            caption="../report/down_proj_maxima.rst",
            category="Detection",
            subcategory="{model}",
        ),
        residual=report(
            "results/{model}/detect/residual_stream.{fmt}",
            caption="../report/residual_stream.rst",
            category="Detection",
            subcategory="{model}",
        ),
    params:
        style=config["plots"],
    log:
        "results/{model}/logs/plot_detect_{fmt}.log",
    benchmark:
        "results/{model}/benchmarks/plot_detect_{fmt}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_detect.py"
