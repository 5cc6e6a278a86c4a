"""The snakemake command line as the workflow reads it at start: ``--config`` overrides parsed as YAML, targets and
options (a results/ path given to an option is not a target; a dry run writes nothing), and checks on them (a target
for a model this run does not run; a results directory that is not writable). Imports no torch."""
from __future__ import annotations

import difflib
import functools
from pathlib import Path

import yaml

from superweight.workflow.config import ConfigError, did_you_mean


def parse_overrides(entries) -> dict:
    """Snakemake's ``--config KEY=VALUE`` entries parsed as a user types them: each value as YAML, so that a
    nested override works (``eval={limit: 5}``: Snakemake itself reads nested values as strings) and ``null`` is
    null; a key given twice is an error (Snakemake keeps the last silently)."""
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


@functools.lru_cache(maxsize=4)
def _command_line(argv: tuple[str, ...]):
    """A snakemake command line (without the program) as Snakemake's own parser reads it, or None when it is not
    one (Snakemake's API called by another program)."""
    try:
        from snakemake.cli import get_argument_parser

        p = get_argument_parser()

        def fail(message):
            raise ValueError(message)

        p.error = fail  # no usage block printed for a line this parser does not take
        return p.parse_args(list(argv))
    except (Exception, SystemExit):  # noqa: BLE001 -- not a line we can read: Snakemake reports its own errors
        return None


def command_line_targets(argv) -> list[str]:
    """The targets of a snakemake command line, so that a results/ path given to an option (``--configfile``,
    ``--report``) is not taken for one. [] when no word is under results/ (Snakemake's parser is built only then)."""
    argv = tuple(str(a) for a in argv)
    if not any(a.startswith("results/") for a in argv):
        return []
    args = _command_line(argv)
    return [str(t) for t in (args.targets or [])] if args is not None else []


# Snakemake's options under which it runs no job (so writes nothing under results/)
NO_JOB_OPTIONS = ("dryrun", "report", "lint", "list_rules", "list_target_rules", "dag", "rulegraph", "filegraph",
                  "d3dag", "summary", "detailed_summary", "unlock", "list_changes", "list_input_changes",
                  "list_params_changes", "list_untracked", "print_compilation", "list_conda_envs",
                  "conda_create_envs_only", "containerize", "export_cwl", "generate_unit_tests", "archive")


def runs_no_job(argv) -> bool:
    """Whether a snakemake command line only looks (a dry run, --report, --lint, --list-rules, --unlock, ...)."""
    args = _command_line(tuple(str(a) for a in argv))
    if args is None or getattr(args, "report_after_run", False):  # --report --report-after-run: the run, then it
        return False
    return any(getattr(args, k, None) for k in NO_JOB_OPTIONS)


# Snakemake's options that write under results/ but run no job: files touched or deleted, its records cleaned
NO_JOB_WRITES = ("touch", "delete_all_output", "delete_temp_output", "cleanup_metadata", "cleanup_shadow")


def runs_jobs(argv) -> bool:
    """Whether a snakemake command line runs jobs: not a look (runs_no_job), not ``--touch``,
    ``--delete-all-output`` or another option that writes but runs nothing (NO_JOB_WRITES)."""
    if runs_no_job(argv):
        return False
    args = _command_line(tuple(str(a) for a in argv))
    return not (args is not None and any(getattr(args, k, None) for k in NO_JOB_WRITES))


def _refuse(message):
    raise ValueError(message)


def executor(argv) -> str | None:
    """The executor a snakemake command line runs jobs with, its profiles' `executor:` included (None: local, or a
    line this parser cannot read)."""
    args = _command_line(tuple(str(a) for a in argv))
    if args is None:
        return None
    if args.profile and args.profile != ["none"]:
        try:
            from snakemake.cli import get_argument_parser

            p = get_argument_parser(profiles=args.profile)
            p.error = _refuse
            args = p.parse_args([str(a) for a in argv])
        except (Exception, SystemExit):  # noqa: BLE001 -- a profile Snakemake cannot read: it reports that itself
            return None
    return getattr(args, "executor", None)


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


def check_device(device: str, argv, cuda=has_cuda) -> None:
    """`device: cuda` for jobs that run on this host (a real run, the local executor) needs a CUDA device here: else
    every model job fails after loading its model. A cluster run's submit host needs none; a look runs no job."""
    if not str(device).startswith("cuda") or not runs_jobs(argv) or executor(argv) not in (None, "local"):
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
