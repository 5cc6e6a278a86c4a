rule prepare_model:
    """A model source made ready to load, once: a Hub model fetched into the Hugging Face cache and linked (no copy
    of its weights); a GGUF or package source converted to a safetensors + tokenizer directory."""
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
        **model_job(lambda wc: R.preparing(config["models"][wc.model]["source"]), gpu=False),
        model_disk_mb=lambda wc: R.disk_mb(R.preparing(config["models"][wc.model]["source"]), model_facts(wc.model),
                                           config["models"][wc.model]["dtype"]),
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/prepare_model.py"


rule prepare_tasks:
    """Convert the local evaluation files to lm-eval task YAMLs (offline copies of the built-ins)."""
    output:
        directory("results/tasks"),
    params:
        tasks=config["eval"]["tasks"],
        data=data_id(config["eval"]["tasks"]),  # the task files' checksums, not their path
    log:
        "results/logs/prepare_tasks.log",
    benchmark:
        "results/benchmarks/prepare_tasks.tsv"
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/prepare_tasks.py"


rule tokenize_corpus:
    """Tokenize a perplexity corpus once per model (GPTQ protocol: the whole text, one tensor), with a JSON
    saying how the text was built and tokenized."""
    input:
        model=model_dir,
    output:
        ids="results/{model}/corpora/{corpus}.pt",
        provenance="results/{model}/corpora/{corpus}.json",
    wildcard_constraints:
        corpus="|".join(CONSTRUCTION),  # the perplexity corpora the library builds
    params:
        data=lambda wc: data_id([wc.corpus]),  # its checksums and construction, not its path
        c4_docs=config["perplexity"]["c4_docs"],
    log:
        "results/{model}/logs/tokenize_{corpus}.log",
    benchmark:
        "results/{model}/benchmarks/tokenize_{corpus}.tsv"
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/tokenize_corpus.py"
