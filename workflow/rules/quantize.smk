# Fig. 7, Tables 3/4 and 6: weight and activation quantization (simulated), scored.
include: "helpers/quantize.smk"


rule tune_z:
    """z for clipping: the candidate with the lowest reconstruction error (or `z_criterion`) on calibration examples
    from WikiText-2 validation, checked disjoint from every evaluation corpus, per model, bits and block size."""
    input:
        model=model_dir,
        detect=runplan.PATTERNS["detect"],
    output:
        runplan.PATTERNS["z"],
    params:
        model=model_cfg,
        weights={k: WQ[k] for k in Z_KEYS},
        seqlen=config["perplexity"]["seqlen"],
        eval_corpora=EVAL_CORPORA,
        c4_docs=config["perplexity"]["c4_docs"],
        data=data_id([WQ["calibration"]["corpus"], *EVAL_CORPORA]),
        device=config["device"],
    log:
        "results/{model}/logs/tune_z_int{bits}_block{block}.log",
    benchmark:
        "results/{model}/benchmarks/tune_z_int{bits}_block{block}.tsv"
    threads: 2
    resources:
        **model_job(R.z_tuning(SETTINGS.perplexity, SETTINGS.quantization.weights)),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/tune_z.py"


use rule score as score_wquant with:
    """Fig. 7: weight quantization (simulated), one method, bit width and block size, scored."""
    input:
        **score_input(CORPORA["wquant"], z=z_input),
    output:
        runplan.PATTERNS["wquant"],
    wildcard_constraints:
        wmethod=only_if(not WQ["one_job"], "|".join(WEIGHT_METHODS)),
    params:
        kind="wquant",
        spec=wquant_spec,
        cfg={"perplexity": config["perplexity"], "eval": eval_for("wquant"), "quantization": {"weights": WQ}},
        corpora=CORPORA["wquant"],
        data=scored_data(CORPORA["wquant"]),
    log:
        "results/{model}/logs/score_wquant_int{bits}_{wmethod}_block{block}.log",
    benchmark:
        "results/{model}/benchmarks/score_wquant_int{bits}_{wmethod}_block{block}.tsv"
    resources:
        **model_job(score_work("wquant", lambda wc: {"method": wc.wmethod})),


use rule score_wquant as score_wquant_restored with:
    """Table 6: weight quantization, then the super weights put back in full precision at their original value
    times {factor} (the paper amplifies them; factor 1 is the plain restore of rtn_keep_sw / sw_aware)."""
    output:
        runplan.PATTERNS["wquant_restored"],
    wildcard_constraints:
        wmethod=only_if(not WQ["one_job"], "|".join(RESTORING_METHODS)),
    params:
        spec=lambda wc, input: wquant_spec(wc, input, sw_factor=float(wc.factor)),
    log:
        "results/{model}/logs/score_wquant_int{bits}_{wmethod}_block{block}_sw_x{factor}.log",
    benchmark:
        "results/{model}/benchmarks/score_wquant_int{bits}_{wmethod}_block{block}_sw_x{factor}.tsv"

use rule score as score_wquant_sweep with:
    """Fig. 7 and Table 6 (`quantization.weights.one_job`): every weight-quantization setting of a model scored
    in one job, one start-up instead of one per setting. The model is loaded afresh for each setting, so each
    scores.json is the one its own job would write; changing any setting reruns the sweep."""
    input:
        **score_input(CORPORA["wquant"], z=sweep_z_input),
    output:
        [s.pattern() for s in WQ_SETTINGS],
    wildcard_constraints:
        model=only_if(WQ["one_job"], "|".join(map(re.escape, MODELS))),
    params:
        kind="wquant",
        spec=None,
        experiments=sweep_specs,
        cfg={"perplexity": config["perplexity"], "eval": eval_for("wquant"), "quantization": {"weights": WQ}},
        corpora=CORPORA["wquant"],
        data=scored_data(CORPORA["wquant"]),
    log:
        "results/{model}/logs/score_wquant_sweep.log",
    benchmark:
        "results/{model}/benchmarks/score_wquant_sweep.tsv"
    resources:
        **model_job(score_work("wquant", lambda wc: {"method": "rtn"}), repeats=len(WQ_SETTINGS)),


rule table6:
    """Table 6: INT4 RTN without clipping; plain, super weights restored after quantizing at their value, and
    amplified; the paper's average accuracy beside."""
    input:
        table6_inputs,
        reproduction=REPRODUCTION,
    output:
        "results/tables/table6_wquant_amplified.csv",
        "results/tables/table6_wquant_amplified.md",
        "results/tables/table6_wquant_amplified.tex",
        report("results/tables/table6_wquant_amplified.html", caption="../report/table6.rst",
               category="Table 6 (INT4 RTN, super weights restored)"),
    params:
        stats=config["stats"],
        paper={m: paper_results(config["models"][m].get("paper"), "table6") for m in MODELS},
    log:
        "results/logs/table6.log",
    benchmark:
        "results/benchmarks/table6.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table_quant.py"


rule smoothquant_calibration:
    """SmoothQuant's calibration samples, apart from evaluation: C4 documents after the evaluated ones (or WikiText-2
    validation paragraphs), each tokenized on its own and truncated (SmoothQuant's get_act_scales); a sample found
    in an evaluated corpus is an error."""
    input:
        model=model_dir,
    output:
        ids="results/{model}/aquant/calibration.pt",
        json="results/{model}/aquant/calibration.json",
    params:
        calibration=AQ["calibration"],
        c4_docs=config["perplexity"]["c4_docs"],
        eval_corpora=EVAL_CORPORA,
        data=data_id([AQ["calibration"]["corpus"], *EVAL_CORPORA]),
    log:
        "results/{model}/logs/smoothquant_calibration.log",
    benchmark:
        "results/{model}/benchmarks/smoothquant_calibration.tsv"
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/smoothquant_calibration.py"


use rule score as score_aquant with:
    """Tables 3/4: W8A8 activation quantization (simulated), one method, scored."""
    input:
        **score_input(CORPORA["aquant"], calibration=lambda wc: f"results/{wc.model}/aquant/calibration.pt"
                      if wc.amethod == "smoothquant" else []),
    output:
        runplan.PATTERNS["aquant"],
    params:
        kind="aquant",
        spec=lambda wc: {"method": wc.amethod},
        cfg={"perplexity": config["perplexity"], "eval": eval_for("aquant"),
             "quantization": {"activations": AQ}},
        corpora=CORPORA["aquant"],
        data=scored_data(CORPORA["aquant"]),
    log:
        "results/{model}/logs/score_aquant_{amethod}.log",
    benchmark:
        "results/{model}/benchmarks/score_aquant_{amethod}.tsv"
    resources:
        **model_job(score_work("aquant", lambda wc: {"method": wc.amethod})),


AQUANT_FP_REUSE = "fp" in PLAN.reused("aquant")  # the run plan: W8A8 fp reads the ablation's scores

localrules:
    reuse_aquant_fp,

ruleorder: reuse_aquant_fp > score_aquant

rule reuse_aquant_fp:
    """W8A8 fp is the unmodified model: the ablation's original scores (same settings, the sweep's first
    documents), not a second run."""
    input:
        scores=lambda wc: runplan.PATTERNS["ablation"].format(model=wc.model, condition=PLAN.reused("aquant")["fp"]),
        detect=runplan.PATTERNS["detect"],
    output:
        runplan.PATTERNS["aquant"].format(model="{model}", amethod="fp"),
    wildcard_constraints:
        model=only_if(AQUANT_FP_REUSE, "|".join(map(re.escape, MODELS))),
    params:
        kind="aquant",
        spec={"method": "fp"},
        cfg={"perplexity": config["perplexity"], "eval": eval_for("aquant"),
             "quantization": {"activations": AQ}},
        corpora=CORPORA["aquant"],
        model=model_cfg,
        data=scored_data(CORPORA["aquant"]),
    log:
        "results/{model}/logs/reuse_aquant_fp.log",
    benchmark:
        "results/{model}/benchmarks/reuse_aquant_fp.tsv"
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/reuse_scores.py"


rule plot_wquant:
    """Fig. 7: average accuracy and perplexity against block size, one line per method."""
    input:
        expand(runplan.PATTERNS["wquant"], model=MODELS, wmethod=WQ["methods"], block=[str(b) for b in WQ["blocks"]],
               allow_missing=True),  # {bits}: the figure's
    output:
        report("results/figures/weight_quant_int{bits}.{fmt}", caption="../report/wquant.rst",
               category="Quantization (Fig. 7, Tables 3/4)"),
    params:
        stats=config["stats"],
        style=config["plots"],
    log:
        "results/logs/plot_wquant_int{bits}_{fmt}.log",
    benchmark:
        "results/benchmarks/plot_wquant_int{bits}_{fmt}.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_wquant.py"


rule table_wquant:
    input:
        expand(runplan.PATTERNS["wquant"], model=MODELS,
               bits=WQ["bits"], wmethod=WQ["methods"], block=[str(b) for b in WQ["blocks"]]),
        reproduction=REPRODUCTION,  # a paper model's numbers marked reproduced or not
    output:
        "results/tables/table_wquant.csv",
        "results/tables/table_wquant.md",
        "results/tables/table_wquant.tex",
        report("results/tables/table_wquant.html", caption="../report/wquant.rst",
               category="Quantization (Fig. 7, Tables 3/4)"),
    params:
        stats=config["stats"],
    log:
        "results/logs/table_wquant.log",
    benchmark:
        "results/benchmarks/table_wquant.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table_quant.py"


rule table_aquant:
    """Tables 3/4: perplexity per W8A8 method, with the share of SmoothQuant's gain kept."""
    input:
        PLAN.paths("aquant"),
        reproduction=REPRODUCTION,  # a paper model's numbers marked reproduced or not
    output:
        "results/tables/table3_act_quant.csv",
        "results/tables/table3_act_quant.md",
        "results/tables/table3_act_quant.tex",
        report("results/tables/table3_act_quant.html", caption="../report/aquant.rst",
               category="Quantization (Fig. 7, Tables 3/4)"),
    params:
        stats=config["stats"],
    log:
        "results/logs/table_aquant.log",
    benchmark:
        "results/benchmarks/table_aquant.tsv"
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table_quant.py"
