# What every score rule (scoring.smk's `score` and its `use rule score as ...` variants) reads and
# the work its resources are estimated from.


def score_input(corpora, **extra):
    """What a scoring job reads: the prepared model, its super weights, the corpora it scores (tokenized) and the
    tasks; the score rules of other stages (`use rule score as ... with`) name their own corpora."""
    return dict(model=model_dir, detect=runplan.PATTERNS["detect"],
                corpora=expand("results/{{model}}/corpora/{corpus}.pt", corpus=corpora),
                corpus_info=expand("results/{{model}}/corpora/{corpus}.json", corpus=corpora), tasks="results/tasks",
                **extra)


def score_work(kind, spec, corpora, passes=1, quantize=False, keeps_weights=False):
    """The work a scoring job's resources are estimated from: perplexity on ``corpora`` (``passes`` times, or
    ``passes(wildcards)`` times), the zero-shot tasks as the run plan resolves them for ``kind``, with the backend
    its experiment (``kind``, ``spec(wildcards)``) scores with (superweight.scoring.backends)."""
    from superweight.scoring.backends import eval_backend

    def backend(wc):
        return eval_backend(kind, spec(wc), config["eval"]["backend"], config["ablation"]["restore_tokens"])

    ev = PLAN.eval_settings(kind)
    return lambda wc: R.scoring(SETTINGS.perplexity, corpora, ev, backend=backend(wc),
                                passes=passes(wc) if callable(passes) else passes, quantize=quantize,
                                keeps_weights=keeps_weights)


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
