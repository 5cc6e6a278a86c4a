"""The cost of a run before it runs (issue 36): the plan parsed from the dry run, summed per rule; a job over the
cluster's time limit stops a real run at start; the paper config's requests fit a cluster."""
import json
import re
import sys

import pytest

from helpers import snakemake, workflow_env
from superweight.workflow.plan import Job, jobs_from_dry_run, over_limit_message, summarize

DRY = """Building DAG of jobs...
[Sun Dec  6 13:15:59 2026]
rule score:
    input: results/a/model, results/tasks
    output: results/a/ablation/original/scores.json
    jobid: 73
    wildcards: model=a, condition=original
    threads: 2
    log: results/a/logs/score_original.log
    resources: tmpdir=/tmp, runtime=120, gpu=1, mem_mb=25781, mem=25.78 GB, mem_mib=24587, forward_tokens=5000, estimate_s=3000
[Sun Dec  6 13:15:59 2026]
localrule table1:
    input: results/a/ablation/original/scores.json
    output: results/tables/table1_a.md
    jobid: 5
    wildcards: model=a
    resources: tmpdir=/tmp
[Sun Dec  6 13:15:59 2026]
rule prepare_model:
    output: results/a/model
    wildcards: model=a
    threads: 2
    resources: tmpdir=/tmp, runtime=30, mem_mb=700, mem=0.70 GB, mem_mib=668, model_disk_mb=14000, disk_mb=50000, estimate_s=600
Job stats:
job      count
"""


def test_dry_run_jobs_are_parsed_and_summed():
    jobs = jobs_from_dry_run(DRY)
    assert jobs == [Job("score", {"model": "a", "condition": "original"}, 120, 25781, 1, 2, 0, 5000,
                        "results/a/logs/score_original.log", 3000),
                    Job("table1", {"model": "a"}, 0, 0, 0, 1, 0),
                    Job("prepare_model", {"model": "a"}, 30, 700, 0, 2, 14000, estimate_s=600)]
    plan = summarize(jobs, max_runtime_min=100)
    assert plan["jobs"] == 3 and plan["model_jobs"] == 2 and plan["other_jobs"] == 1
    assert plan["gpu_hours"] == 2.0 and plan["cpu_hours"] == 1.0  # 2 threads x 30 min
    assert plan["gpu_hours_estimated"] == pytest.approx(3000 / 3600)
    assert plan["cpu_hours_estimated"] == pytest.approx(2 * 600 / 3600)
    assert plan["disk_gb"] == 14.0  # what the models fill, not Snakemake's default disk_mb
    assert plan["largest_mem"] == {"job": "score (model=a, condition=original)", "mem_mb": 25781}
    assert plan["over_limit"] == [{"job": "score (model=a, condition=original)", "runtime_min": 120}]
    line = over_limit_message(jobs, 100)
    assert "\n" not in line and "score (model=a, condition=original) 120 min" in line and "Fix:" in line
    assert over_limit_message(jobs, 120) is None


def test_a_quiet_dry_run_is_not_an_empty_plan(tmp_path, monkeypatch, capsys):
    """A dry run that printed no job details (--quiet) is an error, not a plan of 0 jobs."""
    import subprocess as sp

    from superweight import cli

    quiet = "superweight: resources.max_runtime = 2880 min\nJob stats:\njob      count\n-----  -------\nscore  4\nall  1\ntotal  5\n"
    monkeypatch.setattr(sp, "run", lambda *a, **k: sp.CompletedProcess(a, 0, "", quiet))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plan", "--quiet", "rules"]) == 2
    err = capsys.readouterr().err
    assert "lists 5 jobs but printed the details of 1" in err and "\n" not in err.strip()
    assert not (tmp_path / "results").exists()


def _requests(text):
    """(runtime, gpu, mem_mb, rule, wildcards) of every job the dry run prints, read independently of plan.py."""
    out = []
    for block in re.split(r"\n(?=(?:local)?rule \S+:\n)", text):
        head = re.match(r"(?:local)?rule (\S+):", block)
        res = re.search(r"\n\s+resources: (.*)", block)
        if head and head.group(1) != "all":
            r = dict(kv.split("=", 1) for kv in res.group(1).split(", ") if "=" in kv) if res else {}
            wc = re.search(r"\n\s+wildcards: (.*)", block)
            out.append((int(r.get("runtime", 0)), int(r.get("gpu", 0)), int(r.get("mem_mb", 0)), head.group(1),
                        wc.group(1) if wc else ""))
    return out


@pytest.mark.workflow
def test_paper_plan_fits_a_cluster_and_equals_the_dry_run(wf):
    """`superweight plan --configfile config/paper.yaml` (offline): no job over the default limit; its GPU-hours are
    the dry run's requests summed; a 30B float16 model asks for less than twice its weights in host memory; the Hub
    models' prepare_model jobs load no weights."""
    import subprocess

    r = subprocess.run([sys.executable, "-m", "superweight.cli", "plan", "--all", "--configfile", "config/paper.yaml"],
                       cwd=wf, capture_output=True, text=True, env=workflow_env(), timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    plan = json.loads((wf / "results" / "plan.json").read_text())
    assert plan["over_limit"] == [] and plan["longest"]["runtime_min"] <= plan["max_runtime_min"] == 2880
    dry = snakemake(wf, "-n", "--forceall", "--configfile", "config/paper.yaml")
    assert dry.returncode == 0, dry.stderr[-2000:]
    jobs = _requests(dry.stdout + dry.stderr)
    assert plan["jobs"] == len(jobs)
    assert plan["gpu_hours"] == pytest.approx(sum(rt * g for rt, g, *_ in jobs) / 60)
    weights_30b_mb = 32.5e9 * 2 / 1e6
    mem_30b = [m for rt, g, m, rule, wc in jobs if "model=llama-30b" in wc]
    assert mem_30b and max(mem_30b) < 2 * weights_30b_mb
    prepare = [m for rt, g, m, rule, wc in jobs if rule == "prepare_model"]
    assert len(prepare) == 10 and max(prepare) < 1000  # a fetch: the interpreter only, no copy of the weights


@pytest.mark.workflow
def test_a_job_over_the_limit_stops_the_run_at_start(wf):
    """With a limit below the default model's requests (10 min at least), a real run stops before any job with one
    config-error line naming the jobs; a dry run states the limit and plans as before."""
    over = ["--config", "resources={max_runtime: 5}"]
    r = snakemake(wf, "--cores", "1", "results/smollm2-135m/detect/super_weights.json", *over)
    assert r.returncode != 0
    errors = [line for line in (r.stdout + r.stderr).splitlines() if "config error:" in line]
    assert len(errors) == 1 and "resources.max_runtime = 5 min" in errors[0], r.stderr[-2000:]
    assert "prepare_model (model=smollm2-135m)" in errors[0] and "Fix:" in errors[0]
    assert not (wf / "results" / "smollm2-135m").exists()  # nothing ran
    dry = snakemake(wf, "-n", "results/smollm2-135m/detect/super_weights.json", *over)
    assert dry.returncode == 0 and "resources.max_runtime = 5 min" in dry.stderr


@pytest.mark.workflow
def test_paper_protocol_settings_render_before_any_model(wf):
    """The protocol page's settings part for config/paper.yaml renders offline with no model fetched or run."""
    r = snakemake(wf, "--cores", "1", "results/protocol_settings.md", "--configfile", "config/paper.yaml")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    page = (wf / "results" / "protocol_settings.md").read_text()
    assert "| `models.llama-7b.id` | huggyllama/llama-7b |" in page and "## Differences" in page
    assert not any((wf / "results" / m).exists() for m in ("llama-7b", "llama-30b", "smollm2-135m"))
