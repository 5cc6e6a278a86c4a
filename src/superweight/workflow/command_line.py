"""What the workflow reads from the snakemake command line while its Snakefile is parsed, where Snakemake's API does
not give it yet: ``--config`` overrides typed as YAML (from ``workflow.config_settings.config_args``) and the targets
(a results/ path given to an option is not a target); and the checks on them and on the run (a target for a model
this run does not run; config files that are not; a results directory that is not writable; a CUDA device for local
jobs). Whether jobs run comes from Snakemake itself: its ``onstart`` handler runs only before the jobs of a real run,
and ``workflow.output_settings.dryrun`` says a dry run. Imports no torch."""
from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from superweight.workflow.config import ConfigError, did_you_mean


def parse_overrides(entries) -> dict:
    """Snakemake's ``--config KEY=VALUE`` entries (``workflow.config_settings.config_args``) parsed as a user types
    them: each value as YAML, so that a nested override works (``eval={limit: 5}``: Snakemake's own reading, already
    merged into ``config``, keeps nested values as strings) and ``null`` is null; a key given twice is an error
    (Snakemake keeps the last silently)."""
    out, seen = {}, {}
    for entry in entries or []:
        key, _, text = str(entry).partition("=")
        if key in seen:
            raise ConfigError(f"--config sets `{key}` twice ({key}={seen[key]} and {key}={text}). Fix: give each key "
                              "once")
        seen[key] = text
        out[key] = _override_value(key, text)
    return out


def _override_value(key: str, text: str):
    if text == "":
        return None
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = " ".join(str(e).split())[:120]
        raise ConfigError(f"--config {key}={text} is not a YAML value ({first}). Fix: write it as YAML, e.g. "
                          f"--config '{key}={{key: value}}', or put it in a file and pass --configfile FILE") from None


def merge(base: dict, over: dict) -> dict:
    """``over`` merged into ``base`` key by key (as Snakemake merges config files), in place."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


NON_MODEL_DIRS = ("tables", "figures", "tasks", "logs", "benchmarks", "emergence")
# the files the rules write directly under results/
RESULT_FILES = ("claims.csv", "claims.html", "claims.json", "claims.md", "protocol.html", "protocol.json",
                "protocol.md", "protocol_settings.json", "protocol_settings.md", "reproduction.csv",
                "reproduction.json", "reproduction.md", "summary.html", "summary.md", "timing.csv")


def _misspelt_result(parts: tuple[str, ...], models: list[str]) -> str | None:
    """The known results path nearest a target whose first name under results/ is neither a model nor a folder or
    file the rules write, but close to one of those (not to a model): results/tabels/x -> results/tables/x."""
    name = parts[1]
    known = RESULT_FILES if len(parts) == 2 else NON_MODEL_DIRS
    if name in known or (len(parts) > 2 and name in models):
        return None
    if len(parts) > 2 and difflib.get_close_matches(name, models, n=1, cutoff=0.6):
        return None
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return str(Path("results", close[0], *parts[2:])) if close else None


def started_by_snakemake(argv0: str) -> bool:
    """Whether this process is Snakemake's command line (``snakemake ...`` or ``python -m snakemake ...``), so that
    ``sys.argv`` is a line Snakemake itself has already parsed; not another program calling Snakemake's API."""
    p = Path(argv0)
    return p.name == "snakemake" or (p.name == "__main__.py" and p.parent.name == "snakemake")


def command_line_targets(argv) -> list[str]:
    """The targets of a snakemake command line (``sys.argv``), so that a results/ path given to an option
    (``--configfile``, ``--report``) is not taken for one. Snakemake's API gives the targets only after the
    Snakefile is parsed (``workflow.dag_settings`` is None while it is), so they are read from the line with
    Snakemake's own argument parser, the one place the workflow builds it: only when a word is under results/
    and the process is Snakemake's command line, which that parser has already read without error. [] otherwise."""
    argv = [str(a) for a in argv]
    if not argv or not started_by_snakemake(argv[0]) or not any(a.startswith("results/") for a in argv[1:]):
        return []
    from snakemake.cli import get_argument_parser

    return [str(t) for t in get_argument_parser().parse_args(argv[1:]).targets or []]


def has_cuda() -> bool | None:
    """Whether this host has a CUDA device: an NVIDIA driver loaded (no torch imported), else torch says so (imported
    only then); None when neither can tell (torch not installed here: the jobs' conda environments have it)."""
    if Path("/proc/driver/nvidia/version").exists():
        return True
    try:
        import torch
    except ImportError:
        return None
    return bool(torch.cuda.is_available())


def check_device(device: str, local_jobs: bool, cuda=has_cuda) -> None:
    """`device: cuda` for jobs that run on this host needs a CUDA device here: else every model job fails after
    loading its model. ``local_jobs``: this run executes jobs here (the onstart handler: not --touch, the local
    executor, ``workflow.local_exec``); a cluster run's submit host needs none."""
    if not str(device).startswith("cuda") or not local_jobs:
        return
    if cuda() is False:
        raise ConfigError(f"`device` is {device!r} but this host has no CUDA device (no NVIDIA driver loaded, torch "
                          "sees none), so every model job would fail once its model is loaded. Fix: --config "
                          "device=cpu, or run on a GPU host, or submit the jobs to a cluster (--profile profiles/slurm)")


def check_targets(targets, models: list[str], configured: list[str]) -> None:
    """A target under results/NAME/ for a model this run does not run: one line listing the run's models (else
    Snakemake says only that no rule produces it)."""
    for t in targets or []:
        parts = Path(str(t)).parts
        near = _misspelt_result(parts, models) if len(parts) >= 2 and parts[0] == "results" else None
        if near:
            raise ConfigError(f"target {t} is not a known results path (did you mean {near}?). Fix: check the "
                              "spelling; the folders under results/ are the models' and "
                              f"{', '.join(NON_MODEL_DIRS)}")
        if len(parts) >= 3 and parts[0] == "results" and parts[1] not in NON_MODEL_DIRS and parts[1] not in models:
            why = ("is configured but left out by `run_models`" if parts[1] in configured
                   else "is not under `models`")
            raise ConfigError(f"target {t} is for model {parts[1]!r}, which {why}{did_you_mean(parts[1], models)}; "
                              f"this run's models: {', '.join(models)}. Fix: name one of them, or add the model to "
                              "the config")


def check_config_paths(paths) -> None:
    """Each config file Snakemake read is a .yaml/.yml/.json file: a target given after `--configfile` is read as one
    more config file (the option takes every word up to the next option). A config file kept under results/ is
    fine (a run's own config)."""
    for f in paths or []:
        if Path(str(f)).suffix.lower() not in (".yaml", ".yml", ".json"):
            raise ConfigError(f"{f} was read as a config file (it follows --configfile), but it is no .yaml, .yml or "
                              ".json file: a target? Fix: targets go before --configfile or after -- (snakemake "
                              f"{f} --configfile config/paper.yaml)")


def check_writable(results: str | Path = "results") -> None:
    """The results directory (or, before it exists, the directory it goes in) is writable: else every job would
    fail after Snakemake's own traceback. Tried by creating a file (os.access says yes to root on a read-only mount
    of some file systems, and to nobody on others)."""
    import tempfile

    p = Path(results)
    where = p if p.is_dir() else p.resolve().parent
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=".write_test"):
            pass
    except OSError as e:
        raise ConfigError(f"{where.resolve()} is not writable ({e.strerror}), so no job could write its results. Fix: "
                          "run from a directory you can write (a copy of the workflow), or give yourself write "
                          "permission") from None
