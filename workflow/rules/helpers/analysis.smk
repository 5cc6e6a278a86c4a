# The scaling sweep's settings and the factors whose scores the ablation already holds (analysis.smk).
SCALING = config["analysis"]["scaling"]


def scaling_eval():
    """The eval config for the scaling sweep (its own per-task limit when set)."""
    return limited_eval(SCALING["limit"])


def scaled_reuse():
    """{factor: ablation condition} for the factors whose model is an ablation condition's and whose scores it holds."""
    from superweight.interventions.applicability import same_model

    pairs = {f: same_model("scaling", {"factor": f}) for f in FACTORS}
    return {f: c for f, c in pairs.items() if c and reuse_from(c, SCALING["corpora"], scaling_eval()) is None}
