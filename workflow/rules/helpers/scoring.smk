# What every score rule (ablation.smk's `score` and its `use rule score as ...` variants) reads and
# the work its resources are estimated from.


def score_input(corpora, **extra):
    """What a scoring job reads: the prepared model, its super weights, the corpora it scores (tokenized) and the
    tasks; the score rules of other stages (`use rule score as ... with`) name their own corpora."""
    return dict(model=model_dir, detect="results/{model}/detect/super_weights.json",
                corpora=expand("results/{{model}}/corpora/{corpus}.pt", corpus=corpora), tasks="results/tasks", **extra)


def score_work(kind, spec, corpora, eval_cfg, passes=1, quantize=False, keeps_weights=False):
    """The work a scoring job's resources are estimated from: perplexity on ``corpora`` (``passes`` times), the
    zero-shot tasks as ``eval_cfg`` limits them, with the backend its experiment (``kind``, ``spec(wildcards)``)
    scores with (superweight.scoring.backends)."""
    from superweight.scoring.backends import eval_backend

    return lambda wc: R.scoring(config["perplexity"], corpora, eval_cfg, backend=eval_backend(kind, spec(wc), config),
                                passes=passes, quantize=quantize, keeps_weights=keeps_weights)
