# The scaling sweep's eval settings and the factors whose scores the ablation already holds (analysis.smk).


def scaling_eval():
    """The eval config for the scaling sweep (its own per-task limit when set)."""
    return eval_for("scaling")


def scaled_reuse():
    """{factor: ablation condition} for the factors whose model is an ablation condition's and whose scores it holds
    (the run plan's reuse)."""
    return PLAN.reused("scaling")
