"""The default workflow through the real Snakemake SLURM executor on a single-node SLURM cluster on this machine
(tests/cluster/slurm_up.sh). .ci/run starts the cluster and sets SUPERWEIGHT_SLURM=1; elsewhere this is skipped."""
import json
import os
import re
from pathlib import Path

import pytest

from helpers import copy_workflow, requested, snakemake

pytestmark = [pytest.mark.slurm,
              pytest.mark.skipif(os.environ.get("SUPERWEIGHT_SLURM") != "1",
                                 reason="no SLURM cluster: run tests/cluster/slurm_up.sh and set SUPERWEIGHT_SLURM=1")]

JOBCOMP = Path(os.environ.get("SLURM_CI_DIR", "/tmp/sw-slurm")) / "jobcomp.log"
# one of the ablation's scoring jobs (the local run scores all four), the one that zeroes what detection found: enough
# to show the submission, its resources and equal numbers, at a quarter of the CI time
CONDITIONS = ("prune_sw",)
TARGETS = ["results/smollm2-135m/detect/super_weights.json",
           *(f"results/smollm2-135m/ablation/{c}/scores.json" for c in CONDITIONS)]


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, data_dir):
    wf = copy_workflow(tmp_path_factory.mktemp("slurm") / "wf", data_dir)
    # targets first: --configfile takes every word after it
    r = snakemake(wf, *TARGETS, "--profile", "profiles/slurm", "--slurm-status-command", "squeue",
                  "--slurm-keep-successful-logs", "--configfile", ".test/ci.yaml", timeout=3000)
    out = r.stdout + r.stderr
    print(out[-3000:])
    assert r.returncode == 0, out[-5000:]
    return wf, out


def _jobcomp():
    jobs = {}
    for line in JOBCOMP.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        jobs[fields["JobId"]] = fields
    return jobs


def _tres_mem_mb(tres):
    """mem of a job's TRES string in MB (SLURM writes whole multiples of 1024 M as G)."""
    value, unit = re.search(r"mem=([0-9.]+)([MGT])", tres).groups()
    return round(float(value) * {"M": 1, "G": 1024, "T": 1024**2}[unit])


def _requested(wf, rule):
    """(mem_mb, runtime minutes) the workflow asks for a job of ``rule`` on the default model: its dry run's request
    (from the work the rule declares and the prepared model's facts, the same as the GGUF header's)."""
    if rule == "tokenize_corpus":  # no resources: in the rule: the SLURM profile's default-resources
        return 4000, 30
    r = snakemake(wf, *TARGETS, "-n", "--forceall", "--profile", "profiles/slurm", "--configfile", ".test/ci.yaml")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    res = next(res for name, res in requested(r.stdout + r.stderr).values() if name == rule)
    return int(res["mem_mb"]), int(res["runtime"])


def test_jobs_went_through_sbatch_with_their_resources(slurm_run):
    wf, out = slurm_run
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", out)
    rules = {re.search(r"rule_(\w+)/", log).group(1) for _, log in submitted}
    assert {"prepare_model", "tokenize_corpus", "detect", "score"} <= rules, rules
    assert len([1 for _, log in submitted if "rule_score/" in log]) == len(CONDITIONS)
    jobs = _jobcomp()
    for jobid, log in submitted:
        rule = re.search(r"rule_(\w+)/", log).group(1)
        j = jobs[jobid]  # the SLURM job history (jobcomp/filetxt)
        assert j["JobState"] == "COMPLETED", j
        assert j["WorkDir"] == str(wf)
        # what the profile sent: mem_mb and runtime estimated for the rule from the model's size facts and the
        # run's config (superweight.workflow.resources); rules without estimates get the profile's default-resources;
        # cpus-per-task from the rule's threads (2 for model jobs, 1 for tokenizing)
        mem, minutes = _requested(wf, rule)
        assert _tres_mem_mb(j["Tres"]) == mem, (rule, mem, j)
        assert j["TimeLimit"] == str(minutes), (rule, minutes, j)
        assert j["ProcCnt"] == ("1" if rule == "tokenize_corpus" else "2"), (rule, j)
        assert Path(log).is_file() and Path(log).stat().st_size > 0
    print(f"{len(submitted)} SLURM jobs: " + ", ".join(f"{i} ({jobs[i]['Tres']}, {jobs[i]['TimeLimit']} min)"
                                                     for i, _ in submitted))


def test_results_equal_the_local_run(slurm_run, ran):
    wf, _ = slurm_run
    a = json.loads((wf / TARGETS[0]).read_text())
    b = json.loads((ran / TARGETS[0]).read_text())
    assert a["candidates"] == b["candidates"]
    for cond in CONDITIONS:
        s = json.loads((wf / f"results/smollm2-135m/ablation/{cond}/scores.json").read_text())["scores"]
        t = json.loads((ran / f"results/smollm2-135m/ablation/{cond}/scores.json").read_text())["scores"]
        assert s["perplexity"] == t["perplexity"], cond
        assert {k: v["acc"] for k, v in s["tasks"].items()} == {k: v["acc"] for k, v in t["tasks"].items()}, cond
        assert {k: v["docs"] for k, v in s["tasks"].items()} == {k: v["docs"] for k, v in t["tasks"].items()}, cond
