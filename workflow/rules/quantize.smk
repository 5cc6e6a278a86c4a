def z_input(wildcards):
    """With z: auto, the clipping methods wait for the model's tuned z."""
    if WQ["z"] == "auto" and wildcards.wmethod in ("clip", "sw_aware"):
        return f"results/{wildcards.model}/wquant/int{wildcards.bits}/z_block{wildcards.block}.json"
    return []


rule tune_z:
    """z for clipping: the candidate with the lowest perplexity on calibration text (the end of the C4 sample,
    away from the evaluation windows), per model, bits and block size."""
    input:
        model=model_dir,
        detect="results/{model}/detect/super_weights.json",
        corpora="results/{model}/corpora/c4.pt",
    output:
        "results/{model}/wquant/int{bits}/z_block{block}.json",
    params:
        model=model_cfg,
        weights=WQ,
        seqlen=config["perplexity"]["seqlen"],
        device=config["device"],
    log:
        "results/{model}/logs/tune_z_int{bits}_block{block}.log",
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


rule score_wquant_amplified:
    """Table 6: the super weights amplified by {factor} before the weight quantization."""
    input:
        model=model_dir,
        detect="results/{model}/detect/super_weights.json",
        corpora=expand("results/{{model}}/corpora/{corpus}.pt", corpus=WQ["corpora"]),
        tasks="results/tasks",
        z=z_input,
    output:
        "results/{model}/wquant/int{bits}/{wmethod}/block{block}/amplified_x{factor}/scores.json",
    params:
        kind="wquant",
        spec=lambda wc, input: {"method": wc.wmethod, "bits": int(wc.bits), "block": wc.block,
                                "amplify": float(wc.factor),
                                **({"z": json.loads(Path(input.z).read_text())["z"]} if input.z else {})},
        cfg={"perplexity": config["perplexity"], "eval": limited_eval(WQ["limit"]), "quantization": {"weights": WQ}},
        corpora=WQ["corpora"],
        model=model_cfg,
        device=config["device"],
        data_dir=str(DATA_DIR) if DATA_DIR else None,
    log:
        "results/{model}/logs/score_wquant_int{bits}_{wmethod}_block{block}_x{factor}.log",
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
    t = WQ["table6"]
    base = "results/{m}/wquant/int{b}/{meth}/block{blk}"
    out = []
    for m in MODELS:
        for blk in t["blocks"]:
            p = base.format(m=m, b=t["bits"], meth=t["method"], blk=blk)
            out += [f"{p}/scores.json", f"{p}/amplified_x{float(t['factor']):g}/scores.json"]
    return out


rule table6:
    """Table 6: weight quantization with the super weights original vs amplified."""
    input:
        table6_inputs,
    output:
        report(multiext("results/tables/table6_wquant_amplified", ".csv", ".md", ".tex"),
               caption="../report/wquant.rst", category="Quantization (Fig. 7, Tables 3/4)"),
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


AQUANT_FP_REUSE = reuse_original(AQ["corpora"], limited_eval(AQ["limit"])) if "fp" in AQ["methods"] else "no fp"

if AQUANT_FP_REUSE is None:

    localrules:
        reuse_aquant_fp,

    ruleorder: reuse_aquant_fp > score_aquant

    rule reuse_aquant_fp:
        """W8A8 fp is the unmodified model: the ablation's original scores (same settings), not a second run."""
        input:
            scores="results/{model}/ablation/original/scores.json",
            detect="results/{model}/detect/super_weights.json",
        output:
            "results/{model}/aquant/w8a8/fp/scores.json",
        params:
            kind="aquant",
            spec={"method": "fp"},
            cfg={"perplexity": config["perplexity"], "eval": limited_eval(AQ["limit"]),
                 "quantization": {"activations": AQ}},
            corpora=AQ["corpora"],
            model=model_cfg,
            data_dir=str(DATA_DIR) if DATA_DIR else None,
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
