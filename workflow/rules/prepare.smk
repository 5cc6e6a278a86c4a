rule prepare_model:
    """Any model source -> a local safetensors + tokenizer directory, once."""
    output:
        directory("results/{model}/model"),
    params:
        model=prepare_cfg,
    log:
        "results/{model}/logs/prepare_model.log",
    benchmark:
        "results/{model}/benchmarks/prepare_model.tsv"
    threads: 2
    resources:
        **model_job(R.PREPARE, gpu=False),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/prepare_model.py"


rule prepare_tasks:
    """Convert the local evaluation files to lm-eval task YAMLs (offline copies of the built-ins)."""
    input:
        data_files(config["eval"]["tasks"]),
    output:
        directory("results/tasks"),
    params:
        tasks=config["eval"]["tasks"],
        data_dir=data_dir_param,
    log:
        "results/logs/prepare_tasks.log",
    benchmark:
        "results/benchmarks/prepare_tasks.tsv"
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/prepare_tasks.py"
