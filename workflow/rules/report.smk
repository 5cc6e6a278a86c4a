rule summary:
    """The run's summary (the report's landing page when there are no claims or protocol pages): per model, what
    detection found and the WikiText-2 perplexity with the super weights zeroed."""
    input:  # each model's detection and, when scored, its original and prune_sw scores
        [p for m in MODELS for p in [runplan.PATTERNS["detect"].format(model=m),
         *(runplan.PATTERNS["ablation"].format(model=m, condition=c) for c in ("original", "prune_sw") if c in CONDITIONS)]],
    output:
        "results/summary.md",
    log:
        "results/logs/summary.log",
    benchmark:
        "results/benchmarks/summary.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/summary.py"


rule summary_html:
    """The run summary as a page of the report (tables rendered, not markdown source)."""
    input:
        "results/summary.md",
    output:
        report("results/summary.html", caption="../report/summary.rst", category="Summary"),
    log:
        "results/logs/summary_html.log",
    benchmark:
        "results/benchmarks/summary_html.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/report_html.py"


rule claims_html:
    """results/claims.html: the verdict matrix (claims x models), each verdict linked to its claim, the paper's
    number, the test and the evidence, then where the run departs from the paper's protocol. The report's landing
    page (workflow/report/workflow.rst) embeds it; it also reads on its own, without Snakemake."""
    input:
        claims="results/claims.json",
        protocol="results/protocol.json",
        reproduction="results/reproduction.json",  # the landing page leads with "k of n paper numbers reproduced"
    output:
        report("results/claims.html", caption="../report/claims.rst", category="Claims"),
    log:
        "results/logs/claims_html.log",
    benchmark:
        "results/benchmarks/claims_html.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/report_html.py"


rule protocol_html:
    """results/protocol.html: the settings where the run departs from the paper's protocol, then every setting."""
    input:
        protocol="results/protocol.json",
    output:
        report("results/protocol.html", caption="../report/protocol.rst", category="Protocol"),
    log:
        "results/logs/protocol_html.log",
    benchmark:
        "results/benchmarks/protocol_html.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/report_html.py"
