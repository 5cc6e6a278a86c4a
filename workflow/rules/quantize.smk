def z_input(wildcards):
    """With z: auto, the clipping methods wait for the model's tuned z."""
    if WQ["z"] == "auto" and wildcards.wmethod in ("clip", "sw_aware"):
        return f"results/{wildcards.model}/wquant/int{wildcards.bits}/z_block{wildcards.block}.json"
    return []


Z_KEYS = ("z_candidates", "z_criterion", "calibration", "partial_block", "rounding", "clip_std", "compute_dtype")
EVAL_CORPORA = sorted(set(config["perplexity"]["corpora"]) | set(WQ["corpora"]) | set(AQ["corpora"])
                      | {config["detection"]["confirm"]["corpus"]})


rule tune_z:
    """z for clipping: the candidate with the lowest reconstruction error (or `z_criterion`) on calibration examples
    from WikiText-2 validation, checked disjoint from every evaluation corpus, per model, bits and block size."""
    input:
        model=model_dir,
        detect="results/{model}/detect/super_weights.json",
        data=data_files([WQ["calibration"]["corpus"], *EVAL_CORPORA]),
    output:
        "results/{model}/wquant/int{bits}/z_block{block}.json",
    params:
        model=model_cfg,
        weights={k: WQ[k] for k in Z_KEYS},
        seqlen=config["perplexity"]["seqlen"],
        eval_corpora=EVAL_CORPORA,
        c4_docs=config["perplexity"]["c4_docs"],
        data_dir=str(DATA_DIR) if DATA_DIR else None,
        device=config["device"],
    log:
        "results/{model}/logs/tune_z_int{bits}_block{block}.log",
    benchmark:
        "results/{model}/benchmarks/tune_z_int{bits}_block{block}.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime_min,
        gpu=gpus,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/tune_z.py"


rule score_wquant:
    """Fig. 7: weight quantization (simulated), one method, bit width and block size, scored."""
    input:
        model=model_dir,
        detect="results/{model}/detect/super_weights.json",
        corpora=expand("results/{{model}}/corpora/{corpus}.pt", corpus=WQ["corpora"]),
        tasks="results/tasks",
        z=z_input,
    output:
        "results/{model}/wquant/int{bits}/{wmethod}/block{block}/scores.json",
    params:
        kind="wquant",
        spec=lambda wc, input: {"method": wc.wmethod, "bits": int(wc.bits), "block": wc.block,
                                **({"z": json.loads(Path(input.z).read_text())["z"]} if input.z else {})},
        cfg={"perplexity": config["perplexity"], "eval": limited_eval(WQ["limit"]), "quantization": {"weights": WQ}},
        corpora=WQ["corpora"],
        model=model_cfg,
        device=config["device"],
        data_dir=str(DATA_DIR) if DATA_DIR else None,
    log:
        "results/{model}/logs/score_wquant_int{bits}_{wmethod}_block{block}.log",
    benchmark:
        "results/{model}/benchmarks/score_wquant_int{bits}_{wmethod}_block{block}.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime_min,
        gpu=gpus,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/score.py"


rule score_wquant_restored:
    """Table 6: weight quantization, then the super weights put back in full precision at their original value
    times {factor} (the paper amplifies them; factor 1 is the plain restore of rtn_keep_sw / sw_aware)."""
    input:
        model=model_dir,
        detect="results/{model}/detect/super_weights.json",
        corpora=expand("results/{{model}}/corpora/{corpus}.pt", corpus=WQ["corpora"]),
        tasks="results/tasks",
        z=z_input,
    output:
        "results/{model}/wquant/int{bits}/{wmethod}/block{block}/sw_x{factor}/scores.json",
    wildcard_constraints:
        wmethod="rtn_keep_sw|sw_aware",
    params:
        kind="wquant",
        spec=lambda wc, input: {"method": wc.wmethod, "bits": int(wc.bits), "block": wc.block,
                                "sw_factor": float(wc.factor),
                                **({"z": json.loads(Path(input.z).read_text())["z"]} if input.z else {})},
        cfg={"perplexity": config["perplexity"], "eval": limited_eval(WQ["limit"]), "quantization": {"weights": WQ}},
        corpora=WQ["corpora"],
        model=model_cfg,
        device=config["device"],
        data_dir=str(DATA_DIR) if DATA_DIR else None,
    log:
        "results/{model}/logs/score_wquant_int{bits}_{wmethod}_block{block}_sw_x{factor}.log",
    benchmark:
        "results/{model}/benchmarks/score_wquant_int{bits}_{wmethod}_block{block}_sw_x{factor}.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime_min,
        gpu=gpus,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/score.py"


def table6_inputs(wildcards):
    """Per model and block: plain RTN, the super weights restored at their value (x1) and x each factor."""
    t = WQ["table6"]
    base = "results/{m}/wquant/int{b}/{meth}/block{blk}"
    out = []
    for m in MODELS:
        for blk in t["blocks"]:
            out.append(base.format(m=m, b=t["bits"], meth="rtn", blk=blk) + "/scores.json")
            p = base.format(m=m, b=t["bits"], meth=t["method"], blk=blk)
            out.append(f"{p}/scores.json")
            out += [f"{p}/sw_x{float(f):g}/scores.json" for f in t["factors"] if float(f) != 1.0]
    return out


rule table6:
    """Table 6: INT4 RTN without clipping; plain, super weights restored after quantizing at their value, and
    amplified; the paper's average accuracy beside."""
    input:
        table6_inputs,
    output:
        report(multiext("results/tables/table6_wquant_amplified", ".csv", ".md", ".tex"),
               caption="../report/wquant.rst", category="Quantization (Fig. 7, Tables 3/4)"),
    params:
        paper={m: paper_results(config["models"][m].get("paper"), "table6") for m in MODELS},
    log:
        "results/logs/table6.log",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table_quant.py"


rule score_aquant:
    """Tables 3/4: W8A8 activation quantization (simulated), one method, scored."""
    input:
        model=model_dir,
        detect="results/{model}/detect/super_weights.json",
        corpora=expand("results/{{model}}/corpora/{corpus}.pt",
                       corpus=sorted(set(AQ["corpora"]) | {AQ["calibration"]["corpus"]})),
        tasks="results/tasks",
    output:
        "results/{model}/aquant/w8a8/{amethod}/scores.json",
    params:
        kind="aquant",
        spec=lambda wc: {"method": wc.amethod},
        cfg={"perplexity": config["perplexity"], "eval": limited_eval(AQ["limit"]),
             "quantization": {"activations": AQ}},
        corpora=AQ["corpora"],
        model=model_cfg,
        device=config["device"],
        data_dir=str(DATA_DIR) if DATA_DIR else None,
    log:
        "results/{model}/logs/score_aquant_{amethod}.log",
    benchmark:
        "results/{model}/benchmarks/score_aquant_{amethod}.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb,
        runtime=runtime_min,
        gpu=gpus,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/score.py"


rule plot_wquant:
    """Fig. 7: average accuracy and perplexity against block size, one line per method."""
    input:
        expand("results/{model}/wquant/int{{bits}}/{wmethod}/block{block}/scores.json",
               model=MODELS, wmethod=WQ["methods"], block=[str(b) for b in WQ["blocks"]]),
    output:
        report("results/figures/weight_quant_int{bits}.{fmt}", caption="../report/wquant.rst",
               category="Quantization (Fig. 7, Tables 3/4)"),
    params:
        style=config["plots"],
    log:
        "results/logs/plot_wquant_int{bits}_{fmt}.log",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_wquant.py"


rule table_wquant:
    input:
        expand("results/{model}/wquant/int{bits}/{wmethod}/block{block}/scores.json", model=MODELS,
               bits=WQ["bits"], wmethod=WQ["methods"], block=[str(b) for b in WQ["blocks"]]),
    output:
        report(multiext("results/tables/table_wquant", ".csv", ".md", ".tex"), caption="../report/wquant.rst",
               category="Quantization (Fig. 7, Tables 3/4)"),
    log:
        "results/logs/table_wquant.log",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table_quant.py"


rule table_aquant:
    """Tables 3/4: perplexity per W8A8 method, with the share of SmoothQuant's gain kept."""
    input:
        expand("results/{model}/aquant/w8a8/{amethod}/scores.json", model=MODELS, amethod=AQ["methods"]),
    output:
        report(multiext("results/tables/table3_act_quant", ".csv", ".md", ".tex"), caption="../report/aquant.rst",
               category="Quantization (Fig. 7, Tables 3/4)"),
    log:
        "results/logs/table_aquant.log",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/table_quant.py"
