# Helpers shared by every rule: the validated config, paths, resources sized from the model.
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # run from a checkout without installing

from superweight.config import ConfigError, validate
from superweight.data import resolve_data_dir, files_of

try:
    validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as e:
    raise WorkflowError(f"config error: {e}") from None

MODELS = list(config["models"])
CONDITIONS = config["ablation"]["conditions"]
DATA_DIR = resolve_data_dir(config.get("data_dir"))
WQ = config["quantization"]["weights"]
AQ = config["quantization"]["activations"]
FACTORS = [f"{float(f):g}" for f in config["analysis"]["scaling"]["factors"]]


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)),
    factor=r"[0-9.]+",
    bits=r"[0-9]+",
    block=r"[0-9]+|[0-9]+x[0-9]+|per_channel|per_tensor",
    wmethod="|".join(["rtn", "clip", "sw_aware", "rtn_keep_sw"]),
    amethod="|".join(["fp", "naive", "sa_aware", "smoothquant"]),
    fmt="png|pdf|svg",
    condition="|".join(CONDITIONS) if CONDITIONS else "none",


LOAD_KEYS = ("source", "id", "file", "revision", "dtype")


def model_cfg(wildcards):
    """Only the keys that change how the model loads: editing params_b, paper or known coordinates
    must not rerun model jobs."""
    m = config["models"][wildcards.model]
    return {k: m[k] for k in LOAD_KEYS if k in m}


def known_sws(wildcards):
    return config["models"][wildcards.model].get("super_weights")


def prepare_cfg(wildcards):
    """The model's source for prepare_model; a packaged GGUF is resolved here (in the process that has the
    package installed), so the job's conda env needs only the file path."""
    from superweight.load import ModelSpec, package_file

    cfg = model_cfg(wildcards)
    if cfg["source"] == "package":
        cfg.update(source="gguf", id=str(package_file(cfg["id"], cfg.get("file"))), file=None, package=cfg["id"])
    return cfg


def params_b(wildcards):
    return float(config["models"][wildcards.model].get("params_b", 1.0))


def mem_mb(wildcards, attempt=1):
    """Model weights in fp32 + activations, doubled on retry; at least 4 GB."""
    return int(max(4000, params_b(wildcards) * 1000 * 6 * attempt))


def runtime_min(wildcards, attempt=1):
    return int(max(30, params_b(wildcards) * 60) * attempt)


def gpus(wildcards):
    return 1 if str(config.get("device", "cpu")).startswith("cuda") else 0


def data_files(datasets):
    """Input files of the data directory (empty when reading from the Hub)."""
    return [str(p) for p in files_of(DATA_DIR, datasets)]


def model_dir(wildcards):
    return f"results/{wildcards.model}/model"


def limited_eval(limit):
    """The eval config with a sweep's own per-task limit when set."""
    return {**config["eval"], "limit": config["eval"]["limit"] if limit is None else limit}


def scaling_eval():
    """The eval config for the scaling sweep (its own per-task limit when set)."""
    limit = config["analysis"]["scaling"]["limit"]
    return {**config["eval"], "limit": config["eval"]["limit"] if limit is None else limit}


def all_outputs():
    fmt = config["plots"]["format"]
    out = []
    for m in MODELS:
        out += [f"results/{m}/detect/super_weights.json", f"results/{m}/detect/down_proj_maxima.{fmt}",
                f"results/{m}/detect/residual_stream.{fmt}", f"results/{m}/stopwords/stopwords.{fmt}",
                f"results/{m}/propagation/residual_max.{fmt}", f"results/{m}/propagation/case_study.md"]
    if CONDITIONS:
        out += expand("results/tables/table1_{model}.md", model=MODELS) + ["results/tables/table1_all.md"]
    out += [f"results/figures/scaling.{fmt}", "results/tables/table5.md"]
    if WQ["methods"]:
        out += [f"results/figures/weight_quant_int{b}.{fmt}" for b in WQ["bits"]] + ["results/tables/table_wquant.md"]
    if WQ["table6"]["enabled"]:
        out += ["results/tables/table6_wquant_amplified.md"]
    if AQ["methods"]:
        out += ["results/tables/table3_act_quant.md"]
    return out


def paper_results(key, table):
    """The paper's numbers for a model (config/paper_results.yaml), or None."""
    if not key:
        return None
    import yaml

    allp = yaml.safe_load((Path(workflow.basedir) / "config" / "paper_results.yaml").read_text())
    if key not in allp:
        raise WorkflowError(f"config error: `paper: {key}` not in config/paper_results.yaml (has: {', '.join(allp)})")
    return allp[key].get(table)


def reuse_original(corpora, eval_cfg):
    """None when a job of the unmodified model (scaling x1, W8A8 fp) can read the ablation's original scores
    (same settings for every corpus and task it needs); else why not."""
    from superweight.reuse import difference, settings

    if "original" not in CONDITIONS:
        return "the ablation's original is not scored"
    ppl = config["perplexity"]
    return difference(settings(ppl["corpora"], ppl, config["eval"]), settings(corpora, ppl, eval_cfg))
