rule summary:
    """The run's summary (the report's landing page when there are no claims or protocol pages): per model, what
    detection found and the WikiText-2 perplexity with the super weights zeroed."""
    input:
        summary_inputs,
    output:
        report("results/summary.md", caption="../report/summary.rst", category="Summary"),
    log:
        "results/logs/summary.log",
    benchmark:
        "results/benchmarks/summary.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/summary.py"
