# The paper's open mechanism checks as experiments (issue 13): Hadamard amplification, the skip-connection
# ablation and significance against other outliers, per model (emergence over training: emergence.smk).
MECH = config["mechanism"]


rule mechanism_hadamard:
    """Mechanism 1: the down projection's input at the super weight's column decomposed into the MLP's factors,
    and the output term x * w against the row's other terms, at the super activation's token."""
    input:
        model=model_dir,
        detect=runplan.PATTERNS["detect"],
    output:
        csv="results/{model}/mechanism/hadamard.csv",
        channels="results/{model}/mechanism/hadamard_channels.csv",
        json="results/{model}/mechanism/hadamard.json",
    params:
        model=model_cfg,
        prompt=config["detection"]["prompt"],
        device=config["device"],
    log:
        "results/{model}/logs/mechanism_hadamard.log",
    benchmark:
        "results/{model}/benchmarks/mechanism_hadamard.tsv"
    threads: 2
    resources:
        **model_job(R.prompts()),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/mechanism_hadamard.py"


rule mechanism_skip:
    """Skip-connection ablation: the super activation removed from the residual stream after its layer (or from
    layer k on), the super weight kept; against zeroing the super weight: perplexity and stopword shift."""
    input:
        model=model_dir,
        detect=runplan.PATTERNS["detect"],
        corpus=f"results/{{model}}/corpora/{MECH['corpus']}.pt",
        corpus_info=f"results/{{model}}/corpora/{MECH['corpus']}.json",
    output:
        csv="results/{model}/mechanism/skip.csv",
        json="results/{model}/mechanism/skip.json",
    params:
        model=model_cfg,
        mech={k: MECH[k] for k in ("corpus", "seqlen", "windows", "skip")},
        window_order=config["perplexity"]["window_order"],
        data=data_id(["lambada_openai"]),
        device=config["device"],
    log:
        "results/{model}/logs/mechanism_skip.log",
    benchmark:
        "results/{model}/benchmarks/mechanism_skip.tsv"
    threads: 2
    resources:
        **model_job(R.windows_and_prompts(MECH["seqlen"], MECH["windows"], 2 + len(MECH["skip"]["offsets"]),
                                             MECH["skip"]["n_prompts"])),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/mechanism_skip.py"


rule mechanism_significance:
    """The super weights' perplexity ratio ranked among N random matched sets of other outliers (seeded)."""
    input:
        model=model_dir,
        detect=runplan.PATTERNS["detect"],
        corpus=f"results/{{model}}/corpora/{MECH['corpus']}.pt",
        corpus_info=f"results/{{model}}/corpora/{MECH['corpus']}.json",
    output:
        csv="results/{model}/mechanism/significance.csv",
        json="results/{model}/mechanism/significance.json",
    params:
        model=model_cfg,
        mech={k: MECH[k] for k in ("corpus", "seqlen", "windows", "significance")},
        window_order=config["perplexity"]["window_order"],
        nonsw=config["ablation"]["prune_nonsw"],
        device=config["device"],
    log:
        "results/{model}/logs/mechanism_significance.log",
    benchmark:
        "results/{model}/benchmarks/mechanism_significance.tsv"
    threads: 2
    resources:
        **model_job(R.windows_and_prompts(MECH["seqlen"], MECH["windows"], 3 + 2 * MECH["significance"]["n_sets"])),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/mechanism_significance.py"


rule plot_mechanism:
    """Figure of one mechanism experiment, from its result files."""
    input:
        csv="results/{model}/mechanism/{exp}.csv",
        json="results/{model}/mechanism/{exp}.json",
        channels=lambda wc: f"results/{wc.model}/mechanism/hadamard_channels.csv" if wc.exp == "hadamard" else [],
    output:
        fig=report(
            "results/{model}/mechanism/{exp}.{fmt}",
            caption="../report/mechanism.rst",
            category="Mechanism",
            subcategory="{model}",
        ),
    wildcard_constraints:
        exp="hadamard|skip|significance",
    params:
        style=config["plots"],
    log:
        "results/{model}/logs/plot_mechanism_{exp}_{fmt}.log",
    benchmark:
        "results/{model}/benchmarks/plot_mechanism_{exp}_{fmt}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_mechanism.py"


rule table_mechanism:
    """Table of one mechanism experiment's measurements (its verdict is the claims table's, claim mechanism_{exp})."""
    input:
        csv="results/{model}/mechanism/{exp}.csv",
        json="results/{model}/mechanism/{exp}.json",
    output:
        md="results/{model}/mechanism/{exp}_table.md",  # not {exp}.md: its .csv beside would overwrite the data
        html=report(
            "results/{model}/mechanism/{exp}_table.html",
            caption="../report/mechanism.rst",
            category="Mechanism",
            subcategory="{model}",
        ),
    wildcard_constraints:
        exp="hadamard|skip|significance",
    params:
        style={},
    log:
        "results/{model}/logs/table_mechanism_{exp}.log",
    benchmark:
        "results/{model}/benchmarks/table_mechanism_{exp}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_mechanism.py"
