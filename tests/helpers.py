"""Shared test helpers: a copy of the workflow to run Snakemake in, the CI scenario config, dry-run parsing."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PARTS = ["Snakefile", "workflow", "config", "envs", "profiles", ".test"]  # the package: installed, or SRC below
SRC = REPO / "src"
SCENARIOS = REPO / ".test"
# the CI's end-to-end scenario: every rule on the real packaged model, sized for ~10 minutes of CI
CI_SCENARIO = SCENARIOS / "ci.yaml"


def copy_workflow(dest: Path, data_dir: Path) -> Path:
    """A copy of the workflow (Snakefile, workflow/, config/, .test/, ...) whose default config reads `data_dir`."""
    dest.mkdir(parents=True, exist_ok=True)
    for p in PARTS:
        src = REPO / p
        if src.is_dir():
            shutil.copytree(src, dest / p, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy(src, dest / p)
    # the default config reads ../shared/data; point it at the data wherever the tests found it
    cfg = (dest / "config" / "config.yaml").read_text().replace("data_dir: ../shared/data", f"data_dir: {data_dir}")
    (dest / "config" / "config.yaml").write_text(cfg)
    return dest


def workflow_env() -> dict:
    """The environment of a Snakemake subprocess: this checkout's package first (the installed one may be another
    checkout's), and no $SUPERWEIGHT_DATA (a workflow copy's config names the data directory)."""
    env = {k: v for k, v in os.environ.items() if k != "SUPERWEIGHT_DATA"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
    return env


def snakemake(cwd: Path, *args, timeout=600):
    """Run snakemake in a workflow copy (workflow_env)."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=workflow_env())


def merged(*overlays: dict, base: Path = REPO / "config" / "config.yaml") -> dict:
    """config.yaml with each overlay merged over it the way Snakemake merges --configfile (nested dicts update)."""
    def update(a, b):
        for k, v in b.items():
            a[k] = update(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return a

    cfg = yaml.safe_load(Path(base).read_text())
    for o in overlays:
        cfg = update(cfg, o)
    return cfg


def ci_config(validated: bool = True) -> dict:
    """The CI scenario's whole config (config.yaml + .test/ci.yaml), schema defaults filled."""
    from superweight.workflow.config import validate

    cfg = merged(yaml.safe_load(CI_SCENARIO.read_text()))
    return validate(cfg, REPO / "workflow/schemas/config.schema.yaml", check_files=False) if validated else cfg


def planned_jobs(out: str) -> list[str]:
    """Rule names from the first 'Job stats' block of a snakemake dry run."""
    lines = out.split("Job stats:")[1].splitlines()[3:]
    jobs = []
    for line in lines:
        if not line.strip():
            break
        if line.split()[0] != "total":
            jobs.append(line.split()[0])
    return jobs


def job_counts(out: str) -> dict[str, int]:
    """{rule: jobs} from the first 'Job stats' block of a snakemake dry run."""
    counts = {}
    for line in out.split("Job stats:")[1].splitlines()[3:]:
        if not line.strip():
            break
        counts[line.split()[0]] = int(line.split()[1])
    return counts


def requested(out: str) -> dict[str, tuple[str, dict[str, str]]]:
    """{benchmark file name: (rule, resources as printed)} for each job of a snakemake dry run's output."""
    jobs = {}
    for block in re.split(r"^(?:local)?rule ", out, flags=re.M)[1:]:
        bench = re.search(r"^\s+benchmark: (\S+)$", block, re.M)
        res = re.search(r"^\s+resources: (.+)$", block, re.M)
        if bench:
            jobs[Path(bench.group(1)).name] = (block.split(":")[0], dict(
                kv.split("=", 1) for kv in res.group(1).split(", ")) if res else {})
    return jobs


def outputs_and_targets(out: str) -> tuple[dict[str, str], set[str]]:
    """({file: rule} of every planned job's outputs, the `all` job's inputs) from a dry run's printed jobs."""
    made, targets = {}, set()
    for block in re.split(r"^(?:local)?rule ", out, flags=re.M)[1:]:
        rule = block.split(":")[0]
        line = re.search(r"^\s+(input|output): (.+)$" if rule == "all" else r"^\s+(output): (.+)$", block, re.M)
        files = line.group(2).split(", ") if line else []
        if rule == "all":
            targets.update(files)
        else:
            made.update((f, rule) for f in files)
    return made, targets


# one stand-in for every kind of result a later rule reads (superweight.workflow.damaged.KINDS): the fields its
# readers need, nothing measured
STAND_IN_JSON = {"model": "m", "kind": "k", "status": "skipped", "reason": "a stand-in", "super_weights": [],
                 "used": [], "z": 9.0, "revision": "r", "name": "n", "rows": []}


def finished_run(wf: Path, *args) -> dict[str, str]:
    """Every file the default target's jobs write (with ``args``: more snakemake options) made in ``wf`` as small,
    well-formed stand-ins and marked made by `snakemake --touch` (modification times in job order, Snakemake's
    records): a finished run as Snakemake sees it, in seconds. Returns {file: rule}."""
    import json

    import torch

    dry = snakemake(wf, "-n", "--cores", "1", *args)
    made, _ = outputs_and_targets(dry.stdout)
    assert made, (dry.stdout + dry.stderr)[-3000:]
    for f in made:
        p = wf / f
        if f.endswith(("/model", "/tasks")):  # the rules' directory outputs
            p.mkdir(parents=True)
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix == ".json":
            p.write_text(json.dumps(STAND_IN_JSON))
        elif p.suffix == ".csv":
            p.write_text("a,b\n1,2\n")
        elif p.suffix == ".pt":
            torch.save(torch.zeros(1), p)
        else:
            p.touch()
    touch = snakemake(wf, "--touch", "--cores", "1", *args)
    assert touch.returncode == 0, (touch.stdout + touch.stderr)[-3000:]
    return made


# Snakemake's records of a finished job (params, input files, code, software stack: the rerun triggers other than
# mtime), written for every job of the default target as if each had run. `snakemake --touch` writes none, so a
# touched run alone would never rerun a job for changed params.
_RECORD = """
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (ConfigSettings, DAGSettings, ExecutionSettings, OutputSettings,
                                      ResourceSettings)

with SnakemakeApi(OutputSettings()) as api:
    wapi = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"),
                        config_settings=ConfigSettings())
    wapi.dag(DAGSettings(forceall=True))
    wf = wapi._workflow
    wf.execution_settings = ExecutionSettings()
    wf._prepare_dag(forceall=True, ignore_incomplete=False, lock_warn_only=True)
    wf._build_dag()
    for job in wf.dag.jobs:
        wf.async_run(wf.persistence.finished(job))
    print(len(wf.dag.jobs), "jobs recorded")
"""


def recorded_run(wf: Path) -> dict[str, str]:
    """finished_run (default config), and Snakemake's metadata recorded for each of its jobs as a real run leaves
    it (Snakemake's internal API: the persistence a finished job writes), so that a later run compares params and
    inputs as it would after real jobs. Returns {file: rule}."""
    made = finished_run(wf)
    r = subprocess.run([sys.executable, "-c", _RECORD], cwd=wf, capture_output=True, text=True, timeout=600,
                       env=workflow_env())
    assert r.returncode == 0 and "jobs recorded" in r.stdout, (r.stdout + r.stderr)[-3000:]
    assert any((wf / ".snakemake" / "metadata").iterdir())
    return made
