from superweight.report.protocol import relevant


rule protocol:
    """This run's settings against the paper's protocol (superweight.report.protocol): the config, classified key by
    key, and each model's detection summary (how its loop stopped, the library versions the model jobs ran)."""
    input:
        detect=expand(runplan.PATTERNS["detect"], model=MODELS),
    output:
        md="results/protocol.md",  # the report shows results/protocol.html (report.smk)
        json="results/protocol.json",
    params:
        config=relevant(config),  # the values it reads: editing any other key does not rerun it
        local_data=DATA_DIR is not None,  # whether the data are local (the facts it states), not where
        models=MODELS,
    log:
        "results/logs/protocol.log",
    benchmark:
        "results/benchmarks/protocol.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/protocol.py"


use rule protocol as protocol_settings with:
    """The settings part alone, with no model input: renders before any model is fetched or run (`snakemake
    results/protocol_settings.md --configfile config/paper.yaml`); results/protocol.md adds the detection outcomes."""
    input:
        detect=[],
    output:
        md="results/protocol_settings.md",
        json="results/protocol_settings.json",
    log:
        "results/logs/protocol_settings.log",
    benchmark:
        "results/benchmarks/protocol_settings.tsv"
