# Helpers shared by every rule: the validated config, paths, resources sized from the model.
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # run from a checkout without installing

from superweight.workflow.command_line import (check_targets, check_writable, command_line_targets, merge,
                                              parse_overrides, runs_no_job)
from superweight.workflow.config import ConfigError, run_models, validate
from superweight.scoring.data import data_root, files_of, resolve_data_dir

try:
    # --config values as YAML (nested overrides, null), a repeated key an error; then the schema and every check
    # that needs the files: data verified against the shipped checksums (cached per file under .snakemake/),
    # sizes within the data and the models, maps with known keys
    merge(config, parse_overrides(workflow.config_settings.config_args))
    validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
             paper_results=Path(workflow.basedir) / "config" / "paper_results.yaml",
             cache=Path(".snakemake") / "superweight" / "data_verified.json")
    if workflow.is_main_process:  # targets are not parsed yet here: read from the command line as Snakemake does
        check_targets(command_line_targets(sys.argv[1:]), run_models(config), list(config["models"]))
    try:  # (workflow.dryrun is always False while the Snakefile is parsed: the command line says whether jobs run)
        check_writable("results")
    except ConfigError:
        if not runs_no_job(sys.argv[1:]):  # -n, --report, --lint, --list-rules, --unlock... write no result
            raise
except ConfigError as e:
    raise WorkflowError(f"config error: {e}") from None

MODELS = run_models(config)  # `run_models`, or every model under `models`
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
    from superweight.models.sources import package_file

    cfg = model_cfg(wildcards)
    if cfg["source"] == "package":
        cfg.update(source="gguf", id=str(package_file(cfg["id"], cfg.get("file"))), file=None, package=cfg["id"])
    return cfg


_FACTS = {}


def model_facts(model):
    """The model's size facts (superweight.workflow.resources, no torch): from its prepared directory, else its source's
    metadata (config.json, GGUF header), else `params_b`. Read once per model."""
    from superweight.workflow.resources import model_facts as read_facts

    if model not in _FACTS:
        from types import SimpleNamespace

        src = {**config["models"][model], **prepare_cfg(SimpleNamespace(model=model))}
        _FACTS[model] = read_facts(src, f"results/{model}/model")
    return _FACTS[model]


def mem_mb(wildcards, attempt=1, rulename=None):
    """Estimated peak memory of this rule's job for this model (weights, one batch's activations, the LM head's
    logits as the job computes them), with headroom; doubled on retry. See superweight/resources.py."""
    from superweight.workflow.resources import job_backend, mem_mb as estimate

    dtype = config["models"][wildcards.model].get("dtype", "float32")
    return estimate(rulename, model_facts(wildcards.model), config, dtype, bool(gpus(wildcards)), attempt,
                    job_backend(rulename, dict(wildcards.items()), config))


def runtime_min(wildcards, attempt=1, rulename=None):
    """Estimated minutes of this rule's job (its forward tokens x the model's FLOPs per token), doubled on retry."""
    from superweight.workflow.resources import runtime_min as estimate

    return estimate(rulename, model_facts(wildcards.model), config, bool(gpus(wildcards)), attempt)


def gpus(wildcards):
    return 1 if str(config.get("device", "cpu")).startswith("cuda") else 0


def data_files(datasets):
    """Input files of the data directory (empty when reading from the Hub)."""
    return [str(p) for p in files_of(DATA_DIR, datasets)]


def data_dir_param(wildcards, input):
    """The data directory, derived from the job's data files (no hard-coded path prefix); None reads the Hub."""
    return data_root([str(f) for f in input]) if DATA_DIR else None


def model_dir(wildcards):
    return f"results/{wildcards.model}/model"


def limited_eval(limit):
    """The eval config with a sweep's own per-task limit when set."""
    return {**config["eval"], "limit": config["eval"]["limit"] if limit is None else limit}


def scaling_eval():
    """The eval config for the scaling sweep (its own per-task limit when set)."""
    limit = config["analysis"]["scaling"]["limit"]
    return {**config["eval"], "limit": config["eval"]["limit"] if limit is None else limit}


def protocol_config():
    """The config values the protocol report reads (editing any other key does not rerun it)."""
    from superweight.report.protocol import relevant

    return relevant(config)


# weight quantization (quantize.smk)


def z_input(wildcards):
    """With z: auto, the clipping methods wait for the model's tuned z."""
    if WQ["z"] == "auto" and wildcards.wmethod in ("clip", "sw_aware"):
        return f"results/{wildcards.model}/wquant/int{wildcards.bits}/z_block{wildcards.block}.json"
    return []


Z_KEYS = ("z_candidates", "z_criterion", "calibration", "partial_block", "rounding", "clip_std", "compute_dtype")
EVAL_CORPORA = sorted(set(config["perplexity"]["corpora"]) | set(WQ["corpora"]) | set(AQ["corpora"])
                      | {config["detection"]["confirm"]["corpus"]})


def table6_inputs(wildcards):
    """Per model and block: plain RTN, the super weights restored at their value (x1) and x each factor."""
    t = WQ["table6"]
    base = "results/{m}/wquant/int{b}/{meth}/block{blk}"
    out = []
    for m in MODELS:
        for blk in t["blocks"]:
            out.append(f"{base.format(m=m, b=t['bits'], meth='rtn', blk=blk)}/scores.json")
            p = base.format(m=m, b=t["bits"], meth=t["method"], blk=blk)
            out.append(f"{p}/scores.json")
            out += [f"{p}/sw_x{float(f):g}/scores.json" for f in t["factors"] if float(f) != 1.0]
    return out


def summary_inputs(wildcards):
    """Each model's detection result and, when scored, its original and prune_sw scores (report.smk)."""
    out = []
    for m in MODELS:
        out.append(f"results/{m}/detect/super_weights.json")
        out += [f"results/{m}/ablation/{c}/scores.json" for c in ("original", "prune_sw") if c in CONDITIONS]
    return out


def all_outputs():
    fmt = config["plots"]["format"]
    out = ["results/protocol.md"]
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
    out += ["results/summary.md", "results/summary.html"]
    out += ["results/claims.md", "results/claims.html", "results/protocol.html"]  # the report's pages (report.smk)
    out += mechanism_outputs()  # workflow/rules/mechanism.smk
    # every table also as the HTML page the report shows (report.smk; written beside its Markdown)
    out += [p[:-3] + ".html" for p in out if p.endswith(".md") and
            (p.startswith("results/tables/") or p.endswith(("_table.md", "emergence.md")))]
    return out


def claims_inputs(wildcards=None):
    """Every result file the claims read, for the experiments this config runs (a claim whose files are not
    listed here is reported "not applicable: not run"). New experiments add their files here."""
    out = []
    for m in MODELS:
        r = f"results/{m}"
        out += [f"{r}/detect/super_weights.json", f"{r}/detect/residual_stream.csv", f"{r}/stopwords/summary.json",
                f"{r}/propagation/residual_max.csv"]
        out += [f"{r}/ablation/{c}/scores.json" for c in CONDITIONS]
        out += [f"{r}/scaling/x{f}/scores.json" for f in FACTORS]
        out += [f"{r}/wquant/int{b}/{meth}/block{blk}/scores.json"
                for b in WQ["bits"] for meth in WQ["methods"] for blk in WQ["blocks"]]
        out += [f"{r}/aquant/w8a8/{meth}/scores.json" for meth in AQ["methods"]]
        out += [f"{r}/mechanism/{exp}.json" for exp in config["mechanism"]["experiments"]]
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


# mechanism experiments and the emergence sweep (mechanism.smk)
MECH = config["mechanism"]
EMERGENCE = config.get("emergence")


def mechanism_outputs():
    """What `all` renders: the per-model experiments (and the emergence sweep when configured)."""
    fmt = config["plots"]["format"]
    out = []
    for m in MODELS:
        for exp in MECH["experiments"]:
            out += [f"results/{m}/mechanism/{exp}.{fmt}", f"results/{m}/mechanism/{exp}_table.md"]
    if EMERGENCE:
        out += [f"results/emergence/{EMERGENCE['name']}/emergence.{fmt}",
                f"results/emergence/{EMERGENCE['name']}/emergence.md"]
    return out


def _emergence():
    """The checked `emergence:` block (reference filled in), or None; a bad one stops the run with one message."""
    from superweight.analysis.emergence import EmergenceConfigError, check

    if not EMERGENCE:
        return None
    try:
        return check(EMERGENCE)
    except EmergenceConfigError as e:
        raise WorkflowError(f"config error: {e}") from None


EMERGENCE = _emergence()
EMERGENCE_DIR = f"results/emergence/{EMERGENCE['name']}" if EMERGENCE else "results/emergence/none"
EMERGENCE_REVS = EMERGENCE["revisions"] if EMERGENCE else []


def emergence_cfg():
    """Only the keys that change a checkpoint's measurements."""
    if not EMERGENCE:
        return {}
    keys = ("source", "id", "dtype", "steps", "corpus")
    return {**{k: EMERGENCE.get(k) for k in keys}, "detection": config["detection"]}


def emergence_mem(wildcards, attempt=1):
    return int(max(4000, (EMERGENCE or {}).get("params_b", 1.0) * 6000 * attempt))


def emergence_runtime(wildcards, attempt=1):
    return int(max(30, (EMERGENCE or {}).get("params_b", 1.0) * 60 * attempt))


def reuse_from(condition, corpora, eval_cfg):
    """None when a job whose model is the ablation's ``condition`` (``reuse.same_model``) can read that condition's
    scores (same settings, at least as many documents, for every corpus and task it needs); else why not."""
    from superweight.workflow.reuse import difference, settings

    if condition not in CONDITIONS:
        return f"the ablation's {condition} is not scored"
    ppl = config["perplexity"]
    return difference(settings(ppl["corpora"], ppl, config["eval"]), settings(corpora, ppl, eval_cfg))


def scaled_reuse():
    """{factor: ablation condition} for the factors whose model is an ablation condition's and whose scores it holds."""
    from superweight.workflow.reuse import same_model

    corpora, ev = config["analysis"]["scaling"]["corpora"], scaling_eval()
    pairs = {f: same_model("scaling", {"factor": f}) for f in FACTORS}
    return {f: c for f, c in pairs.items() if c and reuse_from(c, corpora, ev) is None}
