# Super weights over pre-training (config/emergence.yaml): detection on the reference checkpoint, then each
# checkpoint tracked. Without an `emergence:` block the rules stay defined and match no file.
include: "helpers/emergence.smk"


rule emergence_reference:
    """Detection on the reference (last) checkpoint: the coordinates tracked across training."""
    output:
        f"{EMERGENCE_DIR}/reference.json",
    params:
        cfg=EMERGENCE_CFG,
        revision=EM["reference"],
        track=None,
        data=EMERGENCE_DATA,
        device=config["device"],
    log:
        f"{EMERGENCE_DIR}/logs/reference.log",
    benchmark:
        f"{EMERGENCE_DIR}/benchmarks/reference.tsv"
    threads: 2
    resources:
        mem_mb=emergence_mem,
        runtime=emergence_runtime,
        gpu=gpus,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/emergence_step.py"


rule emergence_step:
    """One training checkpoint: detection, and the reference's super weights tracked (value, super activation,
    perplexity ratio with them zeroed)."""
    input:
        reference=f"{EMERGENCE_DIR}/reference.json",
    output:
        f"{EMERGENCE_DIR}/steps/{{revision}}.json",
    wildcard_constraints:
        revision="|".join(map(re.escape, EM["revisions"])) or "none",
    params:
        cfg=EMERGENCE_CFG,
        revision=lambda wc: wc.revision,
        track="reference",
        data=EMERGENCE_DATA,
        device=config["device"],
    log:
        f"{EMERGENCE_DIR}/logs/{{revision}}.log",
    benchmark:
        f"{EMERGENCE_DIR}/benchmarks/{{revision}}.tsv"
    threads: 2
    resources:
        mem_mb=emergence_mem,
        runtime=emergence_runtime,
        gpu=gpus,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/emergence_step.py"


rule emergence:
    """Super weight value, super activation and prune perplexity ratio against training step: csv, table,
    figure and the verdict (`snakemake emergence --configfile config/emergence.yaml`)."""
    input:
        expand(f"{EMERGENCE_DIR}/steps/{{revision}}.json", revision=EM["revisions"]),
    output:
        csv=f"{EMERGENCE_DIR}/emergence.csv",
        json=f"{EMERGENCE_DIR}/emergence.json",
        md=f"{EMERGENCE_DIR}/emergence.md",
        html=report(f"{EMERGENCE_DIR}/emergence.html", caption="../report/mechanism.rst", category="Mechanism",
                    subcategory="emergence"),
        fig=report(f"{EMERGENCE_DIR}/emergence.{config['plots']['format']}", caption="../report/mechanism.rst",
                   category="Mechanism", subcategory="emergence"),
    params:
        name=EMERGENCE["name"] if EMERGENCE else None,
        style=config["plots"],
    log:
        f"{EMERGENCE_DIR}/logs/emergence.log",
    benchmark:
        f"{EMERGENCE_DIR}/benchmarks/emergence.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/emergence_summary.py"
