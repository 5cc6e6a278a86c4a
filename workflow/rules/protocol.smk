rule protocol:
    """This run's settings against the paper's protocol (src/superweight/protocol.py): reads only the config."""
    output:
        md="results/protocol.md",  # the report shows results/protocol.html (report.smk)
        json="results/protocol.json",
    params:
        config=protocol_config(),
        data_dir=str(DATA_DIR) if DATA_DIR else None,
    log:
        "results/logs/protocol.log",
    benchmark:
        "results/benchmarks/protocol.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/protocol.py"
