# What every score rule (scoring.smk's `score` and its `use rule score as ...` variants) reads and
# the work its resources are estimated from.


def score_input(corpora, **extra):
    """What a scoring job reads: the prepared model, its super weights, the corpora it scores (tokenized) and the
    tasks; the score rules of other stages (`use rule score as ... with`) name their own corpora."""
    return dict(model=model_dir, detect=runplan.PATTERNS["detect"],
                corpora=expand("results/{{model}}/corpora/{corpus}.pt", corpus=corpora),
                corpus_info=expand("results/{{model}}/corpora/{corpus}.json", corpus=corpora), tasks="results/tasks",
                **extra)


def score_work(kind, spec):
    """The work a scoring job's resources are estimated from: the run plan's for its experiment (``kind``,
    ``spec(wildcards)``): its corpora, documents, backend and what its intervention holds (runplan.work)."""
    return lambda wc: PLAN.work(kind, spec(wc))


def compared_with(wildcards):
    """The score files of the conditions an ablation condition is compared with while it is scored in looks
    (`sequential.compare`, windows and documents): scored before it, read by its job (workflow/scripts/score.py)."""
    from superweight.scoring.looks import compared

    parts = compared(SEQUENTIAL, wildcards.condition)
    refs = dict.fromkeys(parts["windows"] + parts["docs"])
    return [runplan.PATTERNS["ablation"].format(model=wildcards.model, condition=c) for c in refs]


def ablation_cfg(wildcards):
    """The settings an ablation job scores with; the `sequential` section only for a condition scored in looks,
    so that changing it reruns just those."""
    cfg = {"perplexity": config["perplexity"], "eval": PLAN.eval_for("ablation"), "ablation": config["ablation"]}
    return {**cfg, "sequential": config["sequential"]} if wildcards.condition in SEQUENTIAL else cfg
