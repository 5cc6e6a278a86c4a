# Shared by every stage: the validated config, the run's models and paths, model loading and job resources.
# Each stage's own helpers are in helpers/<stage>.smk, included by the stage's rules file.
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from superweight.quant.methods import ACT_METHODS, WEIGHT_METHODS
from superweight import settings
from superweight.workflow import resources as R
from superweight.workflow import runplan
from superweight.workflow.command_line import (check_config_paths, check_device, check_targets, check_writable,
                                              command_line_targets, merge, parse_overrides)
from superweight.workflow.config import ConfigError, check_repeated_keys, run_models, validate
from superweight.workflow.damaged import DamagedResult, check_results
from superweight.scoring.data import CONSTRUCTION, resolve_data_dir
from superweight.workflow.verify import data_identity

DATA_CACHE = Path(".snakemake") / "superweight" / "data_verified.json"  # checksums of verified files (verify.py)
PAPER_RESULTS = str(Path(workflow.basedir) / "config" / "paper_results.yaml")  # the paper's numbers per model

try:
    # --config values as YAML (nested overrides, null), a repeated key an error; then the schema and every check
    # that needs the files: data verified against the shipped checksums (cached per file under .snakemake/),
    # sizes within the data and the models, maps with known keys
    merge(config, parse_overrides(workflow.config_settings.config_args))
    check_config_paths(workflow.configfiles)  # a target after --configfile is read as a config file
    check_repeated_keys(workflow.configfiles)  # config/config.yaml and each --configfile
    validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
             paper_results=PAPER_RESULTS,
             cache=DATA_CACHE)
    if workflow.is_main_process:  # Snakemake's API gives the targets only once this file is parsed
        check_targets(command_line_targets(sys.argv), run_models(config), list(config["models"]))
except ConfigError as e:
    raise WorkflowError(f"config error: {e}") from None

MODELS = run_models(config)  # `run_models`, or every model under `models`
# the validated config typed (superweight.settings), for what the host computes itself (resource estimates); a job
# gets its sections as plain data in its params (editing one reruns only the jobs that read it)
SETTINGS = settings.Config.from_dict(config)
CONDITIONS = config["ablation"]["conditions"]
DATA_DIR = resolve_data_dir(config.get("data_dir"))  # `data_dir`, else $SUPERWEIGHT_DATA; None reads the Hub
# a run with a paper model (`paper:`): its tables carry the reproduction marks (rule reproduction, claims.smk)
REPRODUCTION = "results/reproduction.json" if any(config["models"][m].get("paper") for m in MODELS) else []
WQ = config["quantization"]["weights"]
AQ = config["quantization"]["activations"]
# sequential scoring (config `sequential`): ablation condition -> the conditions it is compared with
SEQUENTIAL = (config.get("sequential") or {}).get("compare") or {}


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)),
    factor=r"[0-9.]+",
    bits=r"[0-9]+",
    block=r"[0-9]+|[0-9]+x[0-9]+|per_channel|per_tensor",
    wmethod="|".join(WEIGHT_METHODS),
    amethod="|".join(("fp", *ACT_METHODS)),  # fp: not quantized
    fmt="png|pdf|svg",
    condition="|".join(CONDITIONS) if CONDITIONS else "none",


NEVER = "(?!)"  # a wildcard pattern no path matches


def only_if(on, pattern):
    """A wildcard constraint: ``pattern`` when ``on``, else NEVER. Every rule is defined in every run; a variant that
    is switched off (by the config or the run plan) matches no target, so targets choose the rules (the catalog
    workflows' ``is_activated``) and no rule hides inside an ``if``."""
    return pattern if on else NEVER


LOAD_KEYS = ("source", "id", "file", "revision", "dtype")


def model_cfg(wildcards):
    """Only the keys that change how the model loads: editing params_b, paper or known coordinates
    must not rerun model jobs."""
    m = config["models"][wildcards.model]
    return {k: m[k] for k in LOAD_KEYS if k in m}


def prepare_cfg(wildcards):
    """The model's source for prepare_model; a packaged GGUF is resolved here (in the process that has the
    package installed), so the job's conda env needs only the file path."""
    from superweight.models.sources import package_file

    cfg = model_cfg(wildcards)
    if cfg["source"] == "package":
        cfg.update(source="gguf", id=str(package_file(cfg["id"], cfg.get("file"))), file=None, package=cfg["id"])
    return cfg


def model_dir(wildcards):
    return f"results/{wildcards.model}/model"


_FACTS = {}


def model_facts(model):
    """The model's size facts (superweight.workflow.resources, no torch): from its prepared directory, else its
    source's metadata (config.json, GGUF header), else `params_b`. Read once per model."""
    if model not in _FACTS:
        src = {**config["models"][model], **prepare_cfg(SimpleNamespace(model=model))}
        _FACTS[model] = R.model_facts(src, f"results/{model}/model")
    return _FACTS[model]


def gpus(wildcards):
    return 1 if str(config["device"]).startswith("cuda") else 0


RATES = R.Rates.of(SETTINGS.resources)  # the throughput model of run-time requests (config `resources`)
if workflow.is_main_process and workflow.output_settings.dryrun:  # a dry run has no onstart: it states the limit
    print(f"superweight: resources.max_runtime = {RATES.max_runtime_min} min (a real run with a job over it stops at "
          "start; `superweight plan` sums every job's requests)", file=sys.stderr)


def model_job(work, gpu=True, repeats=1):
    """A model job's resources (and the forward tokens and seconds it is estimated at), from the work the rule
    declares (a resources.Work, or a function of the job's wildcards giving one) and the model's size facts at the
    configured rates (`resources`); multiplied by the attempt on each retry. ``repeats``: the job does that work so
    many times in turn, each on a freshly loaded model (a sweep in one job): loading and forwarding are multiplied,
    the memory is one repeat's. A job whose request exceeds `resources.max_runtime` stops the run at start
    (onstart below)."""
    of = work if callable(work) else lambda wildcards: work

    def dtype(wildcards):
        return config["models"][wildcards.model]["dtype"]

    def mem_mb(wildcards, attempt):
        return R.mem_mb(of(wildcards), model_facts(wildcards.model), dtype(wildcards), bool(gpus(wildcards)), attempt)

    def runtime(wildcards, attempt):
        return R.runtime_min(of(wildcards), model_facts(wildcards.model), bool(gpus(wildcards)), attempt,
                             dtype(wildcards), RATES, repeats)

    # shown by a dry run and read by `superweight plan`; benchmarks/runtime_estimate.py checks them against the job
    def forward_tokens(wildcards):
        return repeats * of(wildcards).tokens

    def estimate_s(wildcards):
        return round(R.estimate_s(of(wildcards), model_facts(wildcards.model), dtype(wildcards), bool(gpus(wildcards)),
                                  RATES, repeats))

    return {"mem_mb": mem_mb, "runtime": runtime, "forward_tokens": forward_tokens, "estimate_s": estimate_s,
            **({"gpu": gpus} if gpu else {})}


onstart:
    # before the first job of a real run (Snakemake runs no onstart for -n, --report, --lint, --list-rules, ...):
    # results/ writable; a damaged result (a truncated JSON, a CSV cut short) stops the run, since each job reading
    # it would fail after Snakemake had deleted its finished outputs (superweight.workflow.damaged), but not --touch;
    # model jobs asking for a GPU on a local run need a CUDA device here; a job over the cluster's time limit stops
    # the run (a dry run, and `superweight plan`, list them)
    from superweight.workflow.plan import over_limit_message, planned_jobs

    try:
        check_writable("results")
        jobs = planned_jobs(workflow)
        if any(j.gpus for j in jobs or []):  # a real local run of model jobs with device cuda: a CUDA device here
            check_device(config["device"], workflow.local_exec and not workflow.touch)
    except ConfigError as e:
        raise WorkflowError(f"config error: {e}") from None
    if not workflow.touch:
        try:
            check_results("results", run_models(config))
        except DamagedResult as e:
            raise WorkflowError(f"damaged result: {e}") from None
    if jobs is None:
        print("superweight: warning: this Snakemake does not expose the planned jobs; run-time requests were not "
              "checked against resources.max_runtime (`superweight plan` checks them)", file=sys.stderr)
    elif (message := over_limit_message(jobs, RATES.max_runtime_min)):
        raise WorkflowError(f"config error: {message}")


def data_id(datasets):
    """What a job reading ``datasets`` depends on, as its `data` param: their files' checksums and how the corpora
    are built (superweight.workflow.verify.data_identity), never the directory's path, and the files are no inputs
    (their paths and mtimes would be compared): the same data copied elsewhere reruns nothing, changed data reruns
    the jobs that read it. Jobs find the directory as the workflow does, from their config (`data_dir`, else
    $SUPERWEIGHT_DATA: superweight.scoring.data.resolve_data_dir), which Snakemake does not compare."""
    return data_identity(DATA_DIR, datasets, config["data_checksums"], DATA_CACHE)


def scored_data(corpora):
    """The `data` param of a score rule: its corpora and the zero-shot tasks (data_id)."""
    return data_id([*corpora, *config["eval"]["tasks"]])


def eval_for(kind):
    """The eval config an experiment kind's jobs score with, its per-task limit resolved (the run plan's)."""
    return PLAN.eval_for(kind)


def paper_results(key, table):
    """The paper's numbers for a model (config/paper_results.yaml), or None."""
    if not key:
        return None
    import yaml

    allp = yaml.safe_load(Path(PAPER_RESULTS).read_text())
    if key not in allp:
        raise WorkflowError(f"config error: `paper: {key}` not in config/paper_results.yaml (has: {', '.join(allp)})")
    return allp[key].get(table)


def reuse_from(condition, corpora, eval_cfg):
    """None when a job whose model is the ablation's ``condition`` (``reuse.same_model``) can read that condition's
    scores (same settings, at least as many documents, for every corpus and task it needs); else why not."""
    from superweight.workflow.reuse import difference, settings

    if condition not in CONDITIONS:
        return f"the ablation's {condition} is not scored"
    if condition in SEQUENTIAL:
        return f"the ablation's {condition} is scored in looks (`sequential.compare`): it may stop before the maximum"
    ppl = config["perplexity"]
    return difference(settings(ppl["corpora"], ppl, config["eval"]), settings(corpora, ppl, eval_cfg))


def _emergence():
    """The checked `emergence:` block (reference filled in), or None; a bad one stops the run with one message."""
    from superweight.analysis.emergence import EmergenceConfigError, check

    if not config.get("emergence"):
        return None
    try:
        return check(config["emergence"])
    except EmergenceConfigError as e:
        raise WorkflowError(f"config error: {e}") from None


EMERGENCE = _emergence()
# the run plan (superweight.workflow.runplan): every experiment of the run with its result path and reuse source;
# the rules, `all` and the claims' inputs read it
PLAN = runplan.build(config, MODELS, reuse_from, EMERGENCE)
CORPORA = {kind: list(c) for kind, c in PLAN.corpora.items()}  # the corpora each experiment kind scores (the plan's)


def all_outputs():
    """What `all` builds (the run plan's targets)."""
    return PLAN.outputs()
